import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { isTransactionEvent, TransactionEvent } from '@waybill/delivery';
import { Consumed, ConsumerGroups, GroupCommit } from '@waybill/messaging';
import { READ_MODEL, ReadModel } from './read-model.port';
import { STATUS_DB, STATUS_SCHEMA } from '../status.database';
import { StatusMetrics } from '../status.metrics';

/**
 * The live projection's consumer group. Its version names the read model's shape: a model that
 * changes shape is read anew from the start of the log under a new group (see the migrations).
 */
export const PROJECTION_GROUP = 'waybill.status-projection.v2';

/** How long the projection lets events gather before it reads them (ms). */
export const PROJECTION_LINGER_MS = 20;

/** Most events the projection applies in one database transaction. */
export const PROJECTION_BATCH = 2_000;

/** The transaction events of a batch of consumed messages. */
export function transactionEventsOf(items: readonly Consumed[]): TransactionEvent[] {
  return items.flatMap((i) => (i.kind === 'event' && isTransactionEvent(i.event) ? [i.event] : []));
}

/** One partition's events, as handed to the projection. */
interface PartitionBatch {
  partition: number;
  events: TransactionEvent[];
}

/**
 * Folds `waybill.transaction-events` and `waybill.redelivery-requests` into the read model (`status.transactions`,
 * `status.delivery_attempts`, `status.transaction_events`), in database transactions that also
 * record the events as applied (the {@link ReadModel}'s `apply`). The batches of all partitions read
 * at the same time share one database transaction (a {@link GroupCommit}): when work arrives a
 * few events at a time, twelve partitions would otherwise cost twelve transactions.
 */
@Injectable()
export class ProjectionService {
  private readonly group = new GroupCommit<PartitionBatch, void>(
    async (batches) => {
      const events = batches.flatMap((b) => b.events);
      // Counted in the shard of the group's first partition: one writer at a time per instance.
      const applied = await this.db.transaction((em) => this.readModel.apply(em, STATUS_SCHEMA, events, Math.min(...batches.map((b) => b.partition))));
      this.metrics.applied(applied);
      return batches.map(() => undefined);
    },
    { maxItems: 64, maxWeight: PROJECTION_BATCH, weight: (b) => b.events.length },
  );

  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    @Inject(READ_MODEL) private readonly readModel: ReadModel,
    private readonly groups: ConsumerGroups,
    private readonly metrics: StatusMetrics,
  ) {}

  /**
   * A batch read by {@link PROJECTION_GROUP} (one partition's, from Kafka): applied together with the
   * batches of the other partitions that arrive meanwhile; resolves once they are committed.
   */
  async project(items: readonly Consumed[]): Promise<void> {
    const events = transactionEventsOf(items);
    if (events.length > 0) await this.group.submit({ partition: items[0].message.partition, events });
  }

  /**
   * Waits (bounded, ms) until the projection has applied everything published before the call:
   * true once it has, false when `timeoutMs` passed first.
   */
  catchUp(timeoutMs = 3_000): Promise<boolean> {
    return this.groups.catchUp(PROJECTION_GROUP, timeoutMs);
  }
}
