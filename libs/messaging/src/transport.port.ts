import type { EntityManager } from 'typeorm';
import type { TopicSpec } from '@waybill/contracts';

/** A message on its way out. `value` null is a tombstone (compacted topics forget the key). */
export interface OutgoingMessage {
  topic: string;
  key: string;
  value: unknown | null;
  headers?: Record<string, string>;
}

/** A message as a consumer receives it; `value` is the raw text, validated later at the edge. */
export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Position in the partition (Kafka offset; in the embedded log `xid:seq`). */
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  timestamp: number;
}

export interface SubscriptionSpec {
  /** Consumer group: every group reads every message of its topics, in order per key. */
  group: string;
  topics: string[];
  /**
   * A per-instance reader with no stored position: it reads the whole topic at every start. For
   * in-memory replicas of compacted topics.
   */
  ephemeral?: boolean;
  /** Where a group with no stored position starts. Default: the beginning. */
  fromBeginning?: boolean;
  /** Partitions handled at once (Kafka). Messages of one key are never handled concurrently. */
  partitionsConcurrently?: number;
  /**
   * Most messages one `handle` call gets (default 500). A handler that writes each batch in one
   * database transaction (the projection) pays its round trips per batch: larger batches cost less
   * per message.
   */
  maxBatch?: number;
  /**
   * How long a reader may wait for more messages to arrive before it hands what it has (ms;
   * default 0: at once). A reader whose work costs per batch (the projection's database
   * transaction) does less work with larger batches when messages come a few at a time, at the
   * price of that much latency. Kafka: the fetch's wait for `LINGER_MIN_BYTES`; embedded log: a
   * pause after a wake-up from idle.
   */
  lingerMs?: number;
  /**
   * Told which partitions of each topic this member now reads (logical topic names), whenever that
   * changes: Kafka on each join of the group (and with none when a rebalance takes them away), the
   * embedded log once at start (every partition: it is the only reader). For work that belongs to
   * a partition's owner, such as the dispatcher's parked deliveries.
   */
  onAssignment?(partitions: Record<string, number[]>): void;
  /**
   * Handles messages in order per key. When it resolves, they are acknowledged; when it throws,
   * they are handed to it again (handlers are idempotent).
   */
  handle(messages: IncomingMessage[]): Promise<void>;
}

export interface Subscription {
  /**
   * Resolves true once everything that was on the topics when it was called has been handled by
   * this subscription's group, false when `timeoutMs` passed first. The read-your-writes guard.
   */
  catchUp(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Appends messages inside the caller's database transaction: the outbox. Call `flush` once the
 * transaction has committed: without it, what was appended still goes out, but only when the
 * transport next looks on its own (seconds later).
 */
export interface Outbox {
  append(em: EntityManager, messages: OutgoingMessage[]): Promise<void>;
  /**
   * After the caller committed: resolves once everything appended before the call is visible to
   * consumers (bounded by `timeoutMs`; what is not yet published stays safe in the outbox).
   * `topics`, when given, are the topics the caller wrote (the embedded log wakes only their readers).
   */
  flush(timeoutMs?: number, topics?: readonly string[]): Promise<void>;
}

/** The transport port. Two adapters: Kafka (production) and embedded (a durable log in Postgres). */
export interface MessageTransport {
  readonly kind: 'kafka' | 'embedded';
  /** Number of partitions of each topic. */
  readonly partitions: number;
  /** Creates the topics that are missing, as their specs say. Idempotent. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>;
  /**
   * The outbox of a service, kept in the service's own schema `schema` (Kafka mode: a table that a
   * relay drains; embedded mode: the log itself).
   */
  outbox(schema: string): Outbox;
  /** Publishes at once, outside any database transaction (at least once). */
  publish(messages: OutgoingMessage[]): Promise<void>;
  subscribe(spec: SubscriptionSpec): Promise<Subscription>;
  /** Throws when the broker (or the log's database) cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
