import type { ProducerBatch, TopicMessages } from 'kafkajs';

export interface RawMessage {
  topic: string;
  key: string;
  /** Serialized value; null is a tombstone. */
  raw: string | null;
  headers?: Record<string, string>;
}

/** Groups messages by topic, keeping their order, for one `sendBatch`. */
export function toKafkaBatch(messages: RawMessage[]): ProducerBatch {
  const byTopic = new Map<string, TopicMessages>();
  for (const m of messages) {
    let entry = byTopic.get(m.topic);
    if (!entry) byTopic.set(m.topic, (entry = { topic: m.topic, messages: [] }));
    entry.messages.push({ key: m.key, value: m.raw, headers: m.headers });
  }
  return { topicMessages: [...byTopic.values()], acks: -1 };
}
