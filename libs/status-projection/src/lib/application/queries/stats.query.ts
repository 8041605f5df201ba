import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { AttemptOutcome } from '@waybill/contracts';
import { TRANSACTION_STATUSES } from '@waybill/delivery';
import { Bucket, StatsRange } from '../../domain/stats-range';
import { ProjectionService } from '../projection/projection.service';
import { STATUS_DB } from '../status.database';

/** An attempt's outcomes, as `delivery.attempted` names them. */
export const OUTCOMES = AttemptOutcome.options;
type Outcome = AttemptOutcome;

export type DeliveryBucket = { at: string } & Record<Outcome, number>;

/**
 * The dashboard's figures, from the read model's counters (`transaction_counts`,
 * `delivery_counts`): what each costs is bounded by the number of buckets and statuses, not by
 * the number of transactions. Like lists, each first lets the projection catch up (bounded).
 */
@Injectable()
export class StatsQuery {
  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    private readonly projection: ProjectionService,
  ) {}

  /** The organisation's transactions by status (every status, zeros included) and their total. */
  async transactions(orgId: string): Promise<Record<string, number>> {
    await this.projection.catchUp();
    const rows: { status: string; n: string }[] = await this.db.query(
      'SELECT status, sum(n)::bigint AS n FROM status.transaction_counts WHERE org_id = $1 GROUP BY status',
      [orgId],
    );
    const counts: Record<string, number> = Object.fromEntries(TRANSACTION_STATUSES.map((s) => [s, 0]));
    for (const r of rows) counts[r.status] = Number(r.n);
    return { ...counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
  }

  /** Attempts per bucket and outcome over `range`: one entry per bucket, oldest first, zeros included. */
  async deliveries(orgId: string, bucket: Bucket, range: StatsRange): Promise<DeliveryBucket[]> {
    await this.projection.catchUp();
    const step = bucket === '1m' ? '1 minute' : '1 hour';
    const rows: ({ at: Date } & Record<Outcome, string>)[] = await this.db.query(
      `SELECT b.at, ${OUTCOMES.map((o) => `coalesce(sum(c.n) FILTER (WHERE c.outcome = '${o}'), 0)::bigint AS "${o}"`).join(', ')}
         FROM generate_series($2::timestamptz, $3::timestamptz - $4::interval, $4::interval) AS b(at)
         LEFT JOIN status.delivery_counts c
           ON c.org_id = $1 AND c.minute >= b.at AND c.minute < b.at + $4::interval
        GROUP BY b.at ORDER BY b.at`,
      [orgId, range.from, range.to, step],
    );
    return rows.map((r) => ({
      at: r.at.toISOString(),
      ...(Object.fromEntries(OUTCOMES.map((o) => [o, Number(r[o])])) as Record<Outcome, number>),
    }));
  }
}
