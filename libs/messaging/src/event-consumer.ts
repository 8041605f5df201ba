import { EventType, parseEvent, Topics, WaybillEvent } from '@waybill/contracts';
import { TYPE_HEADER } from './events';
import type { IncomingMessage, MessageTransport, Subscription } from './transport.port';
import { Log } from './logger';

/** What a consumer's handler receives: validated events, and tombstones of compacted topics. */
export type Consumed =
  | { kind: 'event'; event: WaybillEvent; message: IncomingMessage }
  | { kind: 'tombstone'; key: string; message: IncomingMessage };

export interface EventSubscriptionSpec {
  group: string;
  topics: string[];
  ephemeral?: boolean;
  fromBeginning?: boolean;
  partitionsConcurrently?: number;
  /** See `SubscriptionSpec.maxBatch`. */
  maxBatch?: number;
  /** See `SubscriptionSpec.lingerMs`. */
  lingerMs?: number;
  /** See `SubscriptionSpec.onAssignment`. */
  onAssignment?(partitions: Record<string, number[]>): void;
  /**
   * Only these event types reach the handler; others are acknowledged unread when their type
   * header says what they are (no parsing, no validation: a topic's other traffic costs little).
   */
  types?: readonly EventType[];
  handle(items: Consumed[]): Promise<void>;
}

/** A dead-letter record: the message no consumer could read, and why. */
export interface DeadLetter {
  group: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  reason: string;
  value: string | null;
  failedAt: string;
}

/**
 * Subscribes with the error policy every consumer shares: each message is validated at the edge
 * against the contracts; one that cannot be read goes to `waybill.dead-letters` with the reason and
 * the consumer goes on (never crashing, never dropping silently); a handler failure is transient:
 * nothing is acknowledged and the batch is handed again after a backoff.
 */
export function subscribeEvents(transport: MessageTransport, log: Log, spec: EventSubscriptionSpec): Promise<Subscription> {
  const wanted = spec.types ? new Set<string>(spec.types) : null;
  return transport.subscribe({
    group: spec.group,
    topics: spec.topics,
    ephemeral: spec.ephemeral,
    fromBeginning: spec.fromBeginning,
    partitionsConcurrently: spec.partitionsConcurrently,
    maxBatch: spec.maxBatch,
    lingerMs: spec.lingerMs,
    onAssignment: spec.onAssignment,
    handle: async (messages) => {
      const items: Consumed[] = [];
      const dead: DeadLetter[] = [];
      for (const message of messages) {
        const type = message.headers[TYPE_HEADER];
        if (wanted && type !== undefined && !wanted.has(type)) continue;
        const read = readMessage(message);
        if (read.ok) items.push(read.item);
        else dead.push(deadLetter(spec.group, message, read.reason));
      }
      if (dead.length > 0) {
        // Published before the batch is acknowledged: a poison message is never lost.
        await transport.publish(dead.map((d) => ({ topic: Topics.deadLetters, key: d.key ?? '', value: d })));
        for (const d of dead) log.warn({ deadLetter: { ...d, value: undefined } }, 'message sent to dead letters');
      }
      const handled = wanted ? items.filter((i) => i.kind === 'tombstone' || wanted.has(i.event.type)) : items;
      if (handled.length > 0) await spec.handle(handled);
    },
  });
}

function readMessage(message: IncomingMessage): { ok: true; item: Consumed } | { ok: false; reason: string } {
  if (message.value === null) {
    if (message.key === null) return { ok: false, reason: 'tombstone without a key' };
    return { ok: true, item: { kind: 'tombstone', key: message.key, message } };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(message.value);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = parseEvent(raw, message.topic);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  return { ok: true, item: { kind: 'event', event: parsed.event, message } };
}

function deadLetter(group: string, m: IncomingMessage, reason: string): DeadLetter {
  return {
    group,
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key,
    reason,
    value: m.value,
    failedAt: new Date().toISOString(),
  };
}
