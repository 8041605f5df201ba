import type { EventType } from '@waybill/contracts';
import type { EventSubscriptionSpec } from '../event-consumer';
import type { MessageTransport } from '../transport.port';

/**
 * What an `@EventPattern(group, options)` handler reads. The pattern is the consumer group: each
 * group has one handler, which gets every batch the group reads, as validated events and tombstones
 * (`Consumed[]`), and acknowledges it by resolving.
 *
 *     @EventPattern(PROJECTION_GROUP, { topics: [Topics.transactionEvents], maxBatch: 2_000 } satisfies ConsumerOptions)
 *     async project(@Payload() items: Consumed[], @Ctx() ctx: ConsumerContext): Promise<void> { … }
 */
export interface ConsumerOptions {
  /** The topics the group reads. */
  topics: readonly string[];
  /**
   * Only these event types reach the handler; the topic's other events are acknowledged unread
   * (tombstones still reach it). Default: every type.
   */
  types?: readonly EventType[];
  /** Where a group with no stored position starts. Default: the beginning. */
  fromBeginning?: boolean;
  /**
   * Partitions handled at once (Kafka; the embedded log has one reader per topic): a number, or
   * `'all'` for as many as the topics have. Messages of one key are never handled concurrently.
   * Default 1.
   */
  partitionsConcurrently?: number | 'all';
  /**
   * Most messages one handler call gets: a number, or one per adapter (`{ kafka: 250 }`: the
   * adapter left out keeps its default, 500).
   */
  maxBatch?: number | Partial<Record<MessageTransport['kind'], number>>;
  /** How long the reader may wait for more messages before it hands what it has (ms; default 0). See `SubscriptionSpec.lingerMs`. */
  lingerMs?: number;
}

/** The subscription an `@EventPattern` handler stands for, on `transport` (without its `handle`). */
export function subscriptionOf(
  group: string,
  options: ConsumerOptions,
  transport: Pick<MessageTransport, 'kind' | 'partitions'>,
): Omit<EventSubscriptionSpec, 'handle' | 'onAssignment'> {
  if (!group) throw new Error('@EventPattern: the pattern names the consumer group; it is empty');
  if (!Array.isArray(options?.topics) || options.topics.length === 0) {
    throw new Error(`@EventPattern('${group}'): give the topics the group reads (@EventPattern(group, { topics: [...] }))`);
  }
  const { partitionsConcurrently: concurrency, maxBatch } = options;
  return {
    group,
    topics: [...options.topics],
    types: options.types,
    fromBeginning: options.fromBeginning,
    partitionsConcurrently: concurrency === 'all' ? transport.partitions : concurrency,
    maxBatch: typeof maxBatch === 'object' ? maxBatch[transport.kind] : maxBatch,
    lingerMs: options.lingerMs,
  };
}
