import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { transactionDecider, TransactionStatus, viewOf } from '@waybill/delivery';
import { delay, MessageTransport, Outbox, OutgoingMessage, Signal } from '@waybill/messaging';
import { LOGGER, newId, TRANSPORT } from '@waybill/platform';
import { commandMessages } from '../commands/command-events';
import type { TransactionRow } from '../projection/transaction-row';
import { ProjectionService } from '../projection/projection.service';
import { sweepCountQuery, sweepSnapshotQuery, TransactionFilter } from '../queries/transactions.sql';
import { STATUS_DB, STATUS_SCHEMA } from '../status.database';

/** Redelivery requests published in one database transaction. */
const PAGE = 500;
/** How long the sweep's own call works through its matches before it answers (ms). */
const IN_CALL_BUDGET_MS = 2_000;
/** Without a wake-up, the worker still looks for work this often (an instance that died mid-sweep). */
const IDLE_RECHECK_MS = 5_000;

export interface SweepFilter {
  status: TransactionStatus;
  channelId?: string;
  createdAfter?: string;
  createdBefore?: string;
}

/**
 * `POST /v1/transactions/redeliver`: the clean-up sweep. The call copies the ids of every match
 * into `redelivery_sweep_items` with one `INSERT … SELECT` (the database does it; no number of
 * matches is held in memory) and answers with their count. It then works through them in pages of
 * 500 — each page one database transaction that deletes its items and puts their redelivery
 * requests in the outbox — for up to 2 s before it answers, so that a sweep of ordinary size is
 * visible to the next call; a worker in every instance finishes larger ones (`FOR UPDATE SKIP
 * LOCKED`, so instances share the work), after a crash too. A match whose status has changed by
 * the time its page comes (redelivered meanwhile, say) is left alone. Requests carry ids derived
 * from the generation they redeliver, so a match that a single redeliver or another sweep also
 * asked for is redelivered once.
 */
@Injectable()
export class RedeliverySweeps implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly outbox: Outbox;
  private readonly wake = new Signal();
  private readonly abort = new AbortController();
  private worker: Promise<void> | null = null;

  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly projection: ProjectionService,
  ) {
    this.outbox = transport.outbox(STATUS_SCHEMA);
  }

  onApplicationBootstrap(): void {
    this.worker = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.abort.abort();
    this.wake.notify();
    await this.worker;
  }

  /** The dry run: how many transactions a sweep with `filter` would match now. Changes nothing. */
  async count(orgId: string, filter: SweepFilter): Promise<{ count: number; dryRun: true }> {
    await this.projection.catchUp();
    const q = sweepCountQuery(filterOf(orgId, filter));
    const [{ n }]: { n: number }[] = await this.db.query(q.text, q.values);
    return { count: n, dryRun: true };
  }

  /** Starts a sweep; resolves with the number of matches once the first pages are requested. */
  async sweep(orgId: string, filter: SweepFilter): Promise<{ count: number }> {
    // Read your writes: the matches include every transaction whose status a caller could see.
    await this.projection.catchUp();
    const sweepId = newId('sweep');
    const count = await this.db.transaction(async (em) => {
      const snapshot = sweepSnapshotQuery(sweepId, filterOf(orgId, filter));
      const [{ n }]: { n: number }[] = await em.query(`WITH matches AS (${snapshot.text} RETURNING 1) SELECT count(*)::int AS n FROM matches`, snapshot.values);
      await em.query(
        `INSERT INTO status.redelivery_sweeps (id, org_id, filter, count, finished_at) VALUES ($1, $2, $3, $4, CASE WHEN $4 = 0 THEN now() END)`,
        [sweepId, orgId, JSON.stringify(filter), n],
      );
      return n;
    });
    if (count > 0) {
      const deadline = Date.now() + IN_CALL_BUDGET_MS;
      while (Date.now() < deadline && (await this.drainPage(sweepId)) > 0);
      this.wake.notify(); // what is left, the worker finishes
      await this.projection.catchUp();
    }
    return { count };
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        const handled = await this.drainPage(null);
        failures = 0;
        if (handled === 0) await this.wake.wait(IDLE_RECHECK_MS);
      } catch (err) {
        if (this.abort.signal.aborted) break;
        failures++;
        this.log.error({ err }, 'redelivery sweep: a page failed; will retry');
        await delay(Math.min(5_000, 100 * 2 ** failures), this.abort.signal);
      }
    }
  }

  /**
   * Takes one page of sweep items (of `sweepId`, or of any sweep), requests the redelivery of those
   * not in flight, and removes them, in one database transaction. Resolves with the items taken.
   */
  private async drainPage(sweepId: string | null): Promise<number> {
    const { taken, requested } = await this.db.transaction(async (em) => {
      const [items]: [{ sweep_id: string; transaction_id: string; org_id: string; status: string }[], number] = await em.query(
        `DELETE FROM status.redelivery_sweep_items WHERE (sweep_id, transaction_id) IN (
           SELECT sweep_id, transaction_id FROM status.redelivery_sweep_items
            WHERE $1::text IS NULL OR sweep_id = $1
            ORDER BY sweep_id, transaction_id LIMIT ${PAGE} FOR UPDATE SKIP LOCKED)
         RETURNING sweep_id, transaction_id, org_id, status`,
        [sweepId],
      );
      if (items.length === 0) return { taken: 0, requested: 0 };
      const itemOf = new Map(items.map((i) => [i.transaction_id, i]));
      const rows: Pick<TransactionRow, 'id' | 'org_id' | 'facts'>[] = await em.query(
        'SELECT id, org_id, facts FROM status.transactions WHERE id = ANY($1)',
        [[...itemOf.keys()]],
      );
      const now = new Date();
      const requests: OutgoingMessage[] = [];
      for (const row of rows) {
        const item = itemOf.get(row.id);
        const view = viewOf(row.id, row.org_id, row.facts);
        // Still what the sweep matched: one redelivered (or accepted) meanwhile is left alone.
        if (item?.org_id !== row.org_id || view.status !== item.status) continue;
        const decision = transactionDecider.decide({ type: 'RequestRedelivery', metadata: { now } }, view);
        if (decision.ok) requests.push(...commandMessages(view, decision.events, now));
      }
      await this.outbox.append(em, requests);
      await em.query(
        `UPDATE status.redelivery_sweeps s SET finished_at = now()
          WHERE s.id = ANY($1) AND s.finished_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM status.redelivery_sweep_items i WHERE i.sweep_id = s.id)`,
        [[...new Set(items.map((i) => i.sweep_id))]],
      );
      return { taken: items.length, requested: requests.length };
    });
    // Once committed, visible to routing before the next page (or the sweep's answer).
    if (requested > 0) await this.outbox.flush();
    return taken;
  }
}

function filterOf(orgId: string, filter: SweepFilter): TransactionFilter {
  return {
    orgId,
    statuses: [filter.status],
    channelId: filter.channelId,
    createdAfter: filter.createdAfter,
    createdBefore: filter.createdBefore,
  };
}
