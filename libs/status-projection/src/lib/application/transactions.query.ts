import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { Problems } from '@waybill/platform';
import { STATUS_DB } from '../adapters/db/status.migrations';
import { ProjectionService } from './projection.service';

/** Reads of the transaction read model. */
@Injectable()
export class TransactionsQuery {
  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    private readonly projection: ProjectionService,
  ) {}

  /** One transaction with its attempts. A miss first waits for the projection to catch up. */
  async get(orgId: string, id: string) {
    let rows = await this.db.query('SELECT * FROM transactions WHERE id = $1 AND org_id = $2', [id, orgId]);
    if (rows.length === 0) {
      await this.projection.catchUp();
      rows = await this.db.query('SELECT * FROM transactions WHERE id = $1 AND org_id = $2', [id, orgId]);
    }
    if (rows.length === 0) throw Problems.notFound('Transaction', id);
    const t = rows[0];
    const attempts: Record<string, unknown>[] = await this.db.query(
      'SELECT * FROM delivery_attempts WHERE transaction_id = $1 ORDER BY at, attempt',
      [id],
    );
    return {
      id: t.id,
      status: t.status,
      relationshipId: t.relationship_id,
      channelId: t.channel_id,
      businessNumber: t.business_number,
      stream: t.stream,
      createdAt: t.created_at?.toISOString() ?? null,
      updatedAt: t.updated_at.toISOString(),
      nextAttemptAt: t.next_attempt_at?.toISOString() ?? null,
      attempts: attempts.map((a) => ({
        attempt: a.attempt,
        deliveryId: a.delivery_id,
        at: (a.at as Date).toISOString(),
        statusCode: a.status_code,
        outcome: a.outcome,
        durationMs: a.duration_ms,
        error: a.error,
        responseExcerpt: a.response_excerpt,
      })),
    };
  }
}
