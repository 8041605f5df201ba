import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { decodeCursor, Page, Problems, toPage } from '@waybill/platform';
import { STATUS_DB } from '../status.database';

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

/** `GET /v1/alerts`: the alerts the status service stored from `waybill.alerts` (`alerts.service.ts`). */
@Injectable()
export class AlertsQuery {
  constructor(@Inject(STATUS_DB) private readonly db: DataSource) {}

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
