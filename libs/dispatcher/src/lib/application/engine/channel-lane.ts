import { AttemptOutcome } from '@waybill/contracts';
import { NOT_THROTTLED, Throttle } from '@waybill/delivery';
import type { ChannelBreaker } from '../../adapters/breaker/channel-breaker';
import type { Work } from './work';

/** How many recent outcomes a channel's health shows. */
export const OUTCOMES_KEPT = 10;

export interface OutcomeRecord {
  at: string;
  outcome: AttemptOutcome;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

/**
 * What the owner of a channel's partition keeps of it in memory: its breaker, what is in flight
 * and queued here, the batch being filled, and what it knows of the channel's parked line.
 */
export class ChannelLane {
  /** Works waiting here for a slot, in order (first attempts leave in the order accepted). */
  readonly queue: Work[] = [];
  running = 0;
  probeRunning = false;
  /** Attempts take long: new deliveries join the parked line instead of the in-memory queue. */
  slow = false;
  /** How long its requests take, recently (an average weighted to the last ones) (ms). */
  latencyMs = 0;
  throttle: Throttle = NOT_THROTTLED;
  /** The batch being filled (batching channels), flushed at maxItems or maxWaitMs. */
  openBatch: Work | null = null;
  openBatchTimer: NodeJS.Timeout | null = null;
  /**
   * The parked line as this owner knows it: rows due now (waiting for room), all rows not in
   * flight, and when the next one becomes claimable.
   */
  line = { due: 0, parked: 0, nextDueAt: null as number | null };
  /** A batching channel's loose deliveries make no batch before then (not enough, not waited enough). */
  notBefore: number | null = null;
  claiming = false;
  wakeTimer: NodeJS.Timeout | null = null;
  /** Called when the budget of requests in flight has room again (one callback per lane). */
  onRoom: () => void = () => undefined;
  lastUsedAt = Date.now();
  /** Health changed since it was last stored. */
  dirty = true;
  /** What the stored health said of it, in short, and when it was stored. */
  storedSummary = '';
  storedAt = 0;
  private readonly outcomes: OutcomeRecord[] = [];

  constructor(
    readonly id: string,
    public orgId: string,
    public partition: number,
    readonly breaker: ChannelBreaker,
  ) {}

  record(outcome: OutcomeRecord): void {
    this.outcomes.push(outcome);
    if (this.outcomes.length > OUTCOMES_KEPT) this.outcomes.shift();
    this.dirty = true;
  }

  /** Most recent first. */
  lastOutcomes(): OutcomeRecord[] {
    return [...this.outcomes].reverse();
  }

  /** What other instances must hear of soon when it changes: circuit, throttle, slowness, work waiting. */
  summary(now: number): string {
    const throttled = this.throttle.until !== null && this.throttle.until.getTime() > now;
    return `${this.breaker.state}|${throttled}|${this.slow}|${this.waiting > 0}`;
  }

  get waiting(): number {
    return this.queue.length + (this.openBatch?.deliveries.length ?? 0) + this.line.parked;
  }

  /** Nothing here needs the lane: it may be forgotten (its state is the default one). */
  get idle(): boolean {
    return (
      this.running === 0 &&
      this.queue.length === 0 &&
      this.openBatch === null &&
      this.line.parked === 0 &&
      this.line.due === 0 &&
      this.line.nextDueAt === null &&
      this.breaker.state === 'CLOSED' &&
      (this.throttle.until === null || this.throttle.until.getTime() <= Date.now())
    );
  }
}
