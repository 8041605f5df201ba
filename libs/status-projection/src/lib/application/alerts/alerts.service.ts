import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { EventOf } from '@waybill/contracts';
import { Consumed, ConsumerGroups, eventsOf } from '@waybill/messaging';
import type { AlertType } from './alerts.query';
import { STATUS_DB } from '../status.database';
import { StatusMetrics } from '../status.metrics';

export const ALERTS_GROUP = 'waybill.status-projection.alerts';

type AlertEvent = EventOf<'channel.circuit-opened.v1' | 'channel.circuit-closed.v1' | 'delivery.exhausted.v1'>;
export const ALERT_EVENT_TYPES = ['channel.circuit-opened.v1', 'channel.circuit-closed.v1', 'delivery.exhausted.v1'] as const;

/**
 * `waybill.alerts` into `status.alerts` (`GET /v1/alerts` reads them: `alerts/alerts.query.ts`).
 * Each alert is stored once under its event id (read twice, it is not stored twice).
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
}

function apiType(type: AlertEvent['type']): AlertType {
  return type.replace(/\.v\d+$/, '') as AlertType;
}
