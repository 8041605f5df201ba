import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { EventOf, Topics } from '@waybill/contracts';
import { attemptOf, evolve, initialView, isTransactionEvent, TransactionView } from '@waybill/delivery';
import { claimEvents, Consumed, MessageTransport, subscribeEvents, Subscription } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '@waybill/platform';
import { STATUS_DB } from '../adapters/db/status.migrations';

export const SCHEMA = 'status';
const GROUP = 'waybill.status-projection';

interface ViewRow {
  id: string;
  org_id: string;
  relationship_id: string | null;
  channel_id: string | null;
  business_number: string | null;
  stream: 'LIVE' | 'TEST' | null;
  created_at: Date | null;
  status: TransactionView['status'];
  delivery_id: string | null;
  generation: number;
  next_attempt_at: Date | null;
  updated_at: Date;
}

/**
 * Folds `waybill.transaction-events` into `status.transactions` and `status.delivery_attempts`,
 * batch by batch, each batch in one database transaction that also records the events' ids: the
 * same event twice changes nothing.
 */
@Injectable()
export class ProjectionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription: Subscription | null = null;

  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await subscribeEvents(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.transactionEvents],
      partitionsConcurrently: this.transport.partitions,
      handle: (items) => this.db.transaction((em) => this.apply(em, items)),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.stop();
  }

  /** Waits (bounded) until the projection has read everything published so far. */
  catchUp(timeoutMs = 3_000): Promise<boolean> {
    return this.subscription ? this.subscription.catchUp(timeoutMs) : Promise.resolve(false);
  }

  private async apply(em: EntityManager, items: Consumed[]): Promise<void> {
    const events = items.flatMap((i) => (i.kind === 'event' && isTransactionEvent(i.event) ? [i.event] : []));
    const fresh = await claimEvents(em, GROUP, events.map((e) => e.eventId));
    const todo = events.filter((e) => fresh.has(e.eventId));
    if (todo.length === 0) return;
    const ids = [...new Set(todo.map((e) => e.key))];
    const rows: ViewRow[] = await em.query('SELECT * FROM transactions WHERE id = ANY($1) FOR UPDATE', [ids]);
    const views = new Map(rows.map((r) => [r.id, fromRow(r)]));
    const attempts: EventOf<'delivery.attempted.v1'>[] = [];
    for (const e of todo) {
      const view = views.get(e.key) ?? initialView(e.key, e.orgId, e.occurredAt);
      views.set(e.key, evolve(view, e));
      if (e.type === 'delivery.attempted.v1') attempts.push(e);
    }
    await em.query(
      `INSERT INTO transactions
       SELECT * FROM jsonb_populate_recordset(null::transactions, $1::jsonb)
       ON CONFLICT (id) DO UPDATE SET
         relationship_id = EXCLUDED.relationship_id, channel_id = EXCLUDED.channel_id,
         business_number = EXCLUDED.business_number, stream = EXCLUDED.stream, created_at = EXCLUDED.created_at,
         status = EXCLUDED.status, delivery_id = EXCLUDED.delivery_id, generation = EXCLUDED.generation,
         next_attempt_at = EXCLUDED.next_attempt_at, updated_at = EXCLUDED.updated_at`,
      [JSON.stringify([...views.values()].map(toRow))],
    );
    if (attempts.length > 0) {
      await em.query(
        `INSERT INTO delivery_attempts
         SELECT * FROM jsonb_populate_recordset(null::delivery_attempts, $1::jsonb) ON CONFLICT DO NOTHING`,
        [
          JSON.stringify(
            attempts.map((e) => {
              const a = attemptOf(e);
              return {
                event_id: a.eventId, transaction_id: e.data.transactionId, delivery_id: a.deliveryId, attempt: a.attempt, at: a.at,
                status_code: a.statusCode, outcome: a.outcome, duration_ms: a.durationMs, error: a.error, response_excerpt: a.responseExcerpt,
              };
            }),
          ),
        ],
      );
    }
  }
}

function fromRow(r: ViewRow): TransactionView {
  return {
    id: r.id,
    orgId: r.org_id,
    relationshipId: r.relationship_id,
    channelId: r.channel_id,
    businessNumber: r.business_number,
    stream: r.stream,
    createdAt: r.created_at?.toISOString() ?? null,
    status: r.status,
    deliveryId: r.delivery_id,
    generation: r.generation,
    nextAttemptAt: r.next_attempt_at?.toISOString() ?? null,
    updatedAt: r.updated_at.toISOString(),
  };
}

function toRow(v: TransactionView) {
  return {
    id: v.id,
    org_id: v.orgId,
    relationship_id: v.relationshipId,
    channel_id: v.channelId,
    business_number: v.businessNumber,
    stream: v.stream,
    created_at: v.createdAt,
    status: v.status,
    delivery_id: v.deliveryId,
    generation: v.generation,
    next_attempt_at: v.nextAttemptAt,
    updated_at: v.updatedAt,
  };
}
