import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { TransactionView, viewOf } from '@waybill/delivery';
import { decodeCursor, Page, Problems, toPage } from '@waybill/platform';
import { LIST_COLUMNS, ListedTransaction, TransactionRow } from '../projection/transaction-row';
import { ProjectionService } from '../projection/projection.service';
import { STATUS_DB } from '../status.database';
import { listQuery, TransactionFilter } from './transactions.sql';

interface AttemptRow {
  attempt: number;
  delivery_id: string;
  at: Date;
  status_code: number | null;
  outcome: string;
  duration_ms: number;
  error: string | null;
  response_excerpt: string | null;
}

interface EventRow {
  event_id: string;
  type: string;
  occurred_at: Date;
  data: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A transaction as the API shows it in lists. */
export function transactionSummary(t: ListedTransaction) {
  return {
    id: t.id,
    status: t.status,
    relationshipId: t.relationship_id,
    channelId: t.channel_id,
    senderId: t.sender_id,
    receiverId: t.receiver_id,
    transactionType: t.transaction_type,
    businessNumber: t.business_number,
    stream: t.stream,
    createdAt: t.created_at?.toISOString() ?? null,
    updatedAt: t.updated_at.toISOString(),
    nextAttemptAt: t.next_attempt_at?.toISOString() ?? null,
  };
}

/**
 * Reads of the transaction read model. Each read first lets the projection catch up (bounded) with
 * what was published before it, so that a call sees the effect of every call answered before it
 * (read your writes): for one transaction only when it is missing, for lists always.
 */
@Injectable()
export class TransactionsQuery {
  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    private readonly projection: ProjectionService,
  ) {}

  /** One transaction with its attempts, oldest first. */
  async get(orgId: string, id: string) {
    const t = await this.row(orgId, id);
    const attempts: AttemptRow[] = await this.db.query(
      'SELECT * FROM status.delivery_attempts WHERE transaction_id = $1 ORDER BY at, attempt, event_id',
      [id],
    );
    return {
      ...transactionSummary(t),
      attempts: attempts.map((a) => ({
        attempt: a.attempt,
        deliveryId: a.delivery_id,
        at: a.at.toISOString(),
        statusCode: a.status_code,
        outcome: a.outcome,
        durationMs: a.duration_ms,
        error: a.error,
        responseExcerpt: a.response_excerpt,
      })),
    };
  }

  /** The fold's view of one transaction (for the commands). A miss catches up first, then is a 404. */
  async view(orgId: string, id: string): Promise<TransactionView> {
    const find = async () => {
      const rows: Pick<TransactionRow, 'org_id' | 'facts'>[] = await this.db.query(
        'SELECT org_id, facts FROM status.transactions WHERE id = $1 AND org_id = $2',
        [id, orgId],
      );
      return rows[0];
    };
    let row = await find();
    if (!row) {
      await this.projection.catchUp();
      row = await find();
    }
    if (!row) throw Problems.notFound('Transaction', id);
    return viewOf(id, row.org_id, row.facts);
  }

  /** A page of the organisation's transactions, newest first. */
  async list(filter: TransactionFilter, limit: number, cursor?: string): Promise<Page<ReturnType<typeof transactionSummary>>> {
    const after = decodeCursor(cursor);
    await this.projection.catchUp();
    const q = listQuery(filter, after, limit + 1);
    const rows: ListedTransaction[] = await this.db.query(q.text, q.values);
    return toPage(rows, limit, (r) => ({ at: (r.created_at as Date).toISOString(), id: r.id }), transactionSummary);
  }

  /** A page of the transaction's events, oldest first (by the producers' time, then id). */
  async events(orgId: string, id: string, limit: number, cursor?: string) {
    const after = decodeCursor(cursor);
    if (after && !UUID.test(after.id)) throw Problems.invalid([{ path: 'query.cursor', message: 'not a cursor this API gave' }]);
    await this.row(orgId, id);
    const rows: EventRow[] = await this.db.query(
      `SELECT event_id::text AS event_id, type, occurred_at, data FROM status.transaction_events
        WHERE transaction_id = $1 AND ($2::timestamptz IS NULL OR (occurred_at, event_id) > ($2::timestamptz, $3::uuid))
        ORDER BY occurred_at, event_id LIMIT $4`,
      [id, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => ({ at: r.occurred_at.toISOString(), id: r.event_id }),
      (r) => ({ eventId: r.event_id, type: r.type, occurredAt: r.occurred_at.toISOString(), data: r.data }),
    );
  }

  private async row(orgId: string, id: string): Promise<ListedTransaction> {
    const find = async () => {
      const rows: ListedTransaction[] = await this.db.query(`SELECT ${LIST_COLUMNS} FROM status.transactions WHERE id = $1 AND org_id = $2`, [id, orgId]);
      return rows[0];
    };
    let t = await find();
    if (!t) {
      await this.projection.catchUp();
      t = await find();
    }
    if (!t) throw Problems.notFound('Transaction', id);
    return t;
  }
}
