import type { AttemptOutcome } from '@waybill/contracts';
import type { CircuitState } from '@waybill/delivery';
import type { MetricsRegistry } from '@waybill/platform';
import type { EngineMetrics, ParkReason } from '../../application/engine/ports';

/** What the dispatcher's gauges read when scraped. */
export interface DispatcherGauges {
  inFlight(): number;
  waiting(): number;
  circuits(): Record<CircuitState, number>;
}

/**
 * The dispatcher's Prometheus metrics, on the process's registry (`/metrics`): attempts by outcome
 * and their duration, deliveries parked by reason (the happy path parks none), circuit changes,
 * and, read at scrape time, requests in flight, deliveries waiting and circuits by state. No
 * channel label: thousands of channels would be thousands of series; per-channel detail is what
 * `GET /v1/channels/{id}/health` answers.
 */
export class DispatcherMetrics implements EngineMetrics {
  private readonly attempts;
  private readonly durations;
  private readonly parkedTotal;
  private readonly transitions;

  constructor(registry: MetricsRegistry, gauges: () => DispatcherGauges | null) {
    this.attempts = registry.counter({ name: 'waybill_dispatcher_attempts_total', help: 'Delivery attempts (requests to partners), by outcome', labelNames: ['outcome'] });
    this.durations = registry.histogram({
      name: 'waybill_dispatcher_attempt_duration_seconds',
      help: 'Duration of delivery attempts, the whole exchange',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.parkedTotal = registry.counter({ name: 'waybill_dispatcher_parked_total', help: 'Deliveries written to a parked line, by reason', labelNames: ['reason'] });
    this.transitions = registry.counter({ name: 'waybill_dispatcher_circuit_transitions_total', help: 'Channel circuit changes, by the state entered', labelNames: ['to'] });
    registry.gauge({
      name: 'waybill_dispatcher_in_flight',
      help: 'Requests to partners in flight',
      collect() {
        this.set(gauges()?.inFlight() ?? 0);
      },
    });
    registry.gauge({
      name: 'waybill_dispatcher_waiting',
      help: 'Deliveries waiting in this instance: queued in memory or parked in its channels lines',
      collect() {
        this.set(gauges()?.waiting() ?? 0);
      },
    });
    registry.gauge({
      name: 'waybill_dispatcher_circuits',
      help: 'Channel circuits of the channels this instance owns, by state',
      labelNames: ['state'],
      collect() {
        const counts = gauges()?.circuits();
        for (const state of ['CLOSED', 'OPEN', 'HALF_OPEN'] as const) this.set({ state }, counts?.[state] ?? 0);
      },
    });
  }

  attempt(outcome: AttemptOutcome, durationMs: number): void {
    this.attempts.inc({ outcome });
    this.durations.observe(durationMs / 1000);
  }

  parked(reason: ParkReason, count: number): void {
    if (count > 0) this.parkedTotal.inc({ reason }, count);
  }

  circuit(to: CircuitState): void {
    this.transitions.inc({ to });
  }
}

/** The pull queue's gauge: long polls (`GET /v1/channels/{id}/messages`) waiting for messages. */
export function registerPullMetrics(registry: MetricsRegistry, pull: { polling(): number }): void {
  registry.gauge({
    name: 'waybill_pull_polls_waiting',
    help: 'Long polls of pull channels waiting for messages',
    collect() {
      this.set(pull.polling());
    },
  });
}
