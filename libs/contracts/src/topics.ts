/** Every Kafka topic Waybill uses. The one place their names are spelled. */
export const Topics = {
  channels: 'waybill.channels',
  access: 'waybill.access',
  relationships: 'waybill.relationships',
  deliveries: 'waybill.deliveries',
  transactionEvents: 'waybill.transaction-events',
  /** `transaction.redelivery-requested`: the status service asks, routing answers, the projection folds it too. */
  redeliveryRequests: 'waybill.redelivery-requests',
  alerts: 'waybill.alerts',
  deadLetters: 'waybill.dead-letters',
} as const;

export type TopicName = (typeof Topics)[keyof typeof Topics];

/** How a topic is kept: compacted topics hold the latest state per key, forever. */
export interface TopicSpec {
  name: TopicName;
  compacted: boolean;
  /** Retention in ms; -1 keeps every message (the projection can always be rebuilt). */
  retentionMs: number | null;
}

const WEEK_MS = 7 * 24 * 3600 * 1000;

export const TOPIC_SPECS: readonly TopicSpec[] = [
  { name: Topics.channels, compacted: true, retentionMs: null },
  { name: Topics.access, compacted: true, retentionMs: null },
  { name: Topics.relationships, compacted: true, retentionMs: null },
  { name: Topics.deliveries, compacted: false, retentionMs: WEEK_MS },
  { name: Topics.transactionEvents, compacted: false, retentionMs: -1 },
  { name: Topics.redeliveryRequests, compacted: false, retentionMs: -1 },
  { name: Topics.alerts, compacted: false, retentionMs: 4 * WEEK_MS },
  { name: Topics.deadLetters, compacted: false, retentionMs: -1 },
];
