import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { EventOf, Topics } from '@waybill/contracts';
import { EventConsumer, eventsOf, MessageTransport } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '@waybill/platform';
import type { AlertType } from './alerts/alerts.query';
import { STATUS_DB } from './status.database';
import { StatusMetrics } from './status.metrics';

export const ALERTS_GROUP = 'waybill.status-projection.alerts';

type AlertEvent = EventOf<'channel.circuit-opened.v1' | 'channel.circuit-closed.v1' | 'delivery.exhausted.v1'>;
const ALERT_EVENT_TYPES = ['channel.circuit-opened.v1', 'channel.circuit-closed.v1', 'delivery.exhausted.v1'] as const;

/**
 * `waybill.alerts` into `status.alerts` (`GET /v1/alerts` reads them: `alerts/alerts.query.ts`).
 * Each alert is stored once under its event id (read twice, it is not stored twice).
 */
@Injectable()
export class AlertsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer = new EventConsumer();

  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly metrics: StatusMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.consumer.start(this.transport, this.log, {
      group: ALERTS_GROUP,
      topics: [Topics.alerts],
      types: ALERT_EVENT_TYPES,
      handle: async (items) => {
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
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }

  /** Waits (bounded, ms) until every alert published before the call is stored. */
  catchUp(timeoutMs = 3_000): Promise<boolean> {
    return this.consumer.catchUp(timeoutMs);
  }
}

function apiType(type: AlertEvent['type']): AlertType {
  return type.replace(/\.v\d+$/, '') as AlertType;
}
