import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { EventOf } from '@waybill/contracts';
import { Consumed, ConsumerGroups, eventsOf } from '@waybill/messaging';
import { decodeCursor, Page, Problems, toPage } from '@waybill/platform';
import { STATUS_DB } from '../adapters/db/status.migrations';
import { StatusMetrics } from './status.metrics';

export const ALERTS_GROUP = 'waybill.status-projection.alerts';

type AlertEvent = EventOf<'channel.circuit-opened.v1' | 'channel.circuit-closed.v1' | 'delivery.exhausted.v1'>;
export const ALERT_EVENT_TYPES = ['channel.circuit-opened.v1', 'channel.circuit-closed.v1', 'delivery.exhausted.v1'] as const;

/** Alert types as the API names them: the event type without its version. */
export const ALERT_TYPES = ['channel.circuit-opened', 'channel.circuit-closed', 'delivery.exhausted'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export interface Alert {
  id: string;
  type: AlertType;
  channelId: string;
  at: string;
  [field: string]: unknown;
}

interface AlertRow {
  id: string;
  type: AlertType;
  channel_id: string;
  at: Date;
  data: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `waybill.alerts` into `status.alerts`, and `GET /v1/alerts`. Each alert is stored once under its
 * event id (read twice, it is not stored twice).
 */
@Injectable()
export class AlertsService {
  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    private readonly groups: ConsumerGroups,
    private readonly metrics: StatusMetrics,
  ) {}

  /** A batch read by {@link ALERTS_GROUP}: its alerts stored, in one statement. */
  async store(items: readonly Consumed[]): Promise<void> {
    const alerts = eventsOf(items, ALERT_EVENT_TYPES);
    if (alerts.length === 0) return;
    const stored: { type: string }[] = await this.db.query(
      `INSERT INTO status.alerts (id, org_id, channel_id, type, at, data)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
       ON CONFLICT DO NOTHING RETURNING type`,
      [
        alerts.map((a) => a.eventId),
        alerts.map((a) => a.orgId),
        alerts.map((a) => a.data.channelId),
        alerts.map((a) => apiType(a.type)),
        alerts.map((a) => a.data.at),
        alerts.map((a) => JSON.stringify(a.data)),
      ],
    );
    this.metrics.alertsRead(stored.map((r) => r.type));
  }

  /** Waits (bounded, ms) until every alert published before the call is stored. */
  catchUp(timeoutMs = 3_000): Promise<boolean> {
    return this.groups.catchUp(ALERTS_GROUP, timeoutMs);
  }

  /** The organisation's alerts, newest first, optionally of one channel and one type. */
  async list(orgId: string, q: { channelId?: string; type?: AlertType; limit: number; cursor?: string }): Promise<Page<Alert>> {
    const after = decodeCursor(q.cursor);
    if (after && !UUID.test(after.id)) throw Problems.invalid([{ path: 'query.cursor', message: 'not a cursor this API gave' }]);
    const values: unknown[] = [orgId];
    const where = ['org_id = $1'];
    if (q.channelId !== undefined) where.push(`channel_id = $${values.push(q.channelId)}`);
    if (q.type !== undefined) where.push(`type = $${values.push(q.type)}`);
    if (after) where.push(`(at, id) < ($${values.push(after.at)}::timestamptz, $${values.push(after.id)}::uuid)`);
    const rows: AlertRow[] = await this.db.query(
      `SELECT id::text AS id, type, channel_id, at, data FROM status.alerts WHERE ${where.join(' AND ')}
        ORDER BY at DESC, id DESC LIMIT $${values.push(q.limit + 1)}`,
      values,
    );
    return toPage(
      rows,
      q.limit,
      (r) => ({ at: r.at.toISOString(), id: r.id }),
      (r) => ({ ...r.data, id: r.id, type: r.type, channelId: r.channel_id, at: r.at.toISOString() }),
    );
  }
}

function apiType(type: AlertEvent['type']): AlertType {
  return type.replace(/\.v\d+$/, '') as AlertType;
}
