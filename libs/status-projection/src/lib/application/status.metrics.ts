import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { IN_FLIGHT, TRANSACTION_STATUSES } from '@waybill/delivery';
import { cached, MetricsRegistry } from '@waybill/platform';
import type { AppliedBatch } from './projection/read-model.port';
import { STATUS_DB } from './status.database';

/** The gauges read the database: at most this often (ms). */
const COUNTS_MAX_AGE_MS = 5_000;
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3_600];

/**
 * The status service's metrics:
 *
 * - `waybill_transactions{status}`: transactions by status, from the read model's counts (a
 *   deployment-wide fact, the same from every instance: aggregate with `max`).
 * - `waybill_delivery_attempts_total{outcome}`, `waybill_delivery_attempt_duration_seconds{outcome}`:
 *   attempts as the projection applies them, with the partner's answer time.
 * - `waybill_delivery_latency_seconds{status}`: from a delivery's routing (the transaction's
 *   acceptance, for its first delivery) to its outcome, observed when the outcome is applied.
 * - `waybill_projection_events_total{type}`: events applied (read for the first time).
 * - `waybill_alerts_total{type}` and `waybill_channels_circuit_open`: alerts read, and the channels
 *   whose latest circuit alert says their circuit is open.
 *
 * Counters count what this instance applied: sum them over instances.
 */
@Injectable()
export class StatusMetrics implements OnModuleInit {
  private readonly attempts;
  private readonly attemptDuration;
  private readonly latency;
  private readonly events;
  private readonly alerts;

  constructor(
    private readonly metrics: MetricsRegistry,
    @Inject(STATUS_DB) private readonly db: DataSource,
  ) {
    this.attempts = metrics.counter({ name: 'waybill_delivery_attempts_total', help: 'Delivery attempts, by outcome.', labelNames: ['outcome'] });
    this.attemptDuration = metrics.histogram({
      name: 'waybill_delivery_attempt_duration_seconds',
      help: "Time a partner took to answer an attempt (the dispatcher's measure), by outcome.",
      labelNames: ['outcome'],
      buckets: SECONDS,
    });
    this.latency = metrics.histogram({
      name: 'waybill_delivery_latency_seconds',
      help: 'From a delivery being routed (for a first delivery: the transaction accepted by Waybill) to its outcome, by the status it ended in.',
      labelNames: ['status'],
      buckets: SECONDS,
    });
    this.events = metrics.counter({ name: 'waybill_projection_events_total', help: 'Transaction events applied by the status projection, by type.', labelNames: ['type'] });
    this.alerts = metrics.counter({ name: 'waybill_alerts_total', help: 'Alerts read, by type.', labelNames: ['type'] });
  }

  onModuleInit(): void {
    const counts = cached(COUNTS_MAX_AGE_MS, () =>
      this.db.query<{ status: string; n: number }[]>('SELECT status, sum(n)::float8 AS n FROM status.transaction_counts GROUP BY status'),
    );
    const openCircuits = cached(COUNTS_MAX_AGE_MS, async () => {
      const [{ n }]: { n: number }[] = await this.db.query(
        `SELECT count(*)::int AS n FROM (
           SELECT DISTINCT ON (channel_id) type FROM status.alerts
            WHERE type IN ('channel.circuit-opened', 'channel.circuit-closed') ORDER BY channel_id, at DESC, id DESC) latest
          WHERE type = 'channel.circuit-opened'`,
      );
      return n;
    });
    this.metrics.gauge({
      name: 'waybill_transactions',
      help: 'Transactions by status, as the read model shows them.',
      labelNames: ['status'],
      async collect() {
        const rows = await counts();
        for (const status of TRANSACTION_STATUSES) this.set({ status }, rows.find((r) => r.status === status)?.n ?? 0);
      },
    });
    this.metrics.gauge({
      name: 'waybill_channels_circuit_open',
      help: 'Channels whose latest circuit alert says their circuit opened.',
      async collect() {
        this.set(await openCircuits());
      },
    });
  }

  /** Records what a committed batch of the live projection applied. */
  applied(batch: AppliedBatch): void {
    for (const e of batch.events) {
      this.events.inc({ type: e.type });
      if (e.type === 'delivery.attempted.v1') {
        this.attempts.inc({ outcome: e.data.outcome });
        this.attemptDuration.observe({ outcome: e.data.outcome }, e.data.durationMs / 1_000);
      }
    }
    for (const { before, after } of batch.changes) {
      if (IN_FLIGHT.has(after.status) || (before && !IN_FLIGHT.has(before.status) && before.deliveryId === after.deliveryId)) continue;
      const delivery = after.deliveryId ? after.facts.deliveries[after.deliveryId] : undefined;
      const started = delivery?.routed?.at ?? (after.createdAt ? Date.parse(after.createdAt) : null);
      const ended = delivery?.outcome?.stamp.at;
      if (started !== null && ended !== undefined && ended >= started) this.latency.observe({ status: after.status }, (ended - started) / 1_000);
    }
  }

  alertsRead(types: string[]): void {
    for (const type of types) this.alerts.inc({ type });
  }
}
