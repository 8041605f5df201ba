import type { MessageTransport, Subscription } from './transport.port';
import { Consumed, subscribeEvents } from './event-consumer';
import { Log } from './logger';

export interface ReplicaFeedSpec {
  /** Names the reader in logs and in the broker's group list. */
  name: string;
  topics: string[];
  /** Applies one event or tombstone to the replica. Must be idempotent. */
  apply(item: Consumed): void;
}

/** Bound on waiting for a replica to reach the end of its topics before answering "not found" (ms). */
export const CATCH_UP_TIMEOUT_MS = 3_000;

/**
 * An in-memory replica of compacted topics, read whole by every instance at start. `lookup` is the
 * read-your-writes guard: a miss first catches the replica up to the topics' current end.
 */
export class ReplicaFeed {
  private constructor(private readonly sub: Subscription) {}

  static async start(transport: MessageTransport, log: Log, spec: ReplicaFeedSpec): Promise<ReplicaFeed> {
    const sub = await subscribeEvents(transport, log, {
      group: `waybill.replica.${spec.name}`,
      topics: spec.topics,
      ephemeral: true,
      fromBeginning: true,
      handle: async (items) => {
        for (const item of items) spec.apply(item);
      },
    });
    const feed = new ReplicaFeed(sub);
    // Ready means caught up: a fresh instance must not answer 401 for a key issued before it started.
    const ready = await sub.catchUp(60_000);
    if (!ready) log.warn({ replica: spec.name }, 'replica not caught up after 60 s; serving what it has');
    return feed;
  }

  /** Finds with `find`; on a miss, catches up (bounded) and looks again. */
  async lookup<T>(find: () => T | undefined, timeoutMs = CATCH_UP_TIMEOUT_MS): Promise<T | undefined> {
    const found = find();
    if (found !== undefined) return found;
    await this.sub.catchUp(timeoutMs);
    return find();
  }

  catchUp(timeoutMs = CATCH_UP_TIMEOUT_MS): Promise<boolean> {
    return this.sub.catchUp(timeoutMs);
  }

  stop(): Promise<void> {
    return this.sub.stop();
  }
}
