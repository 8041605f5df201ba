import type { ChannelState } from '@waybill/contracts';
import { NOT_THROTTLED, policyDeadline, Throttle } from '@waybill/delivery';
import type { CircuitBreaker, CircuitTransition } from '../../../domain/circuit-breaker';
import * as ev from '../delivery-events';
import type { ChannelHealth, LineStats, OutcomeRecord, ParkEntry } from '../ports';
import type { Delivery, Work } from '../work';
import type { Effect, TimerName, World } from './lane-protocol';

/** How many recent outcomes a channel's health shows. */
export const OUTCOMES_KEPT = 10;
/** A channel's timeout when it is gone from the replica (ms). */
const DEFAULT_TIMEOUT_MS = 30_000;

/** The dispatcher's tunables a lane decides with (see `DispatcherOptions`). */
export interface LaneOptions {
  holdMs: number;
  maxHoldMs: number;
  channelShare: number;
  leaseMarginMs: number;
  disabledRecheckMs: number;
}

/** One decision under way: the world it was asked in, the budget's room as it uses it up, its effects. */
export interface Step {
  readonly world: World;
  readonly room: { normal: number; slow: number };
  readonly fx: Effect[];
}

/**
 * What the owner of a channel's partition keeps of it: its breaker, the works in flight and queued
 * here, the batch being filled, what it knows of the channel's parked line, its recent outcomes and
 * pace, and which timers it has asked for. Plain data and the small rules every decision shares;
 * the decisions themselves are in the modules beside it, and only `ChannelLane.decide` runs them.
 */
export class LaneState {
  /** Works waiting here for a slot, in order (first attempts leave in the order accepted). */
  readonly queue: Work[] = [];
  /** The batch being filled in memory (batching channels), flushed at maxItems or maxWaitMs. */
  openBatch: Work | null = null;
  /** The works in memory by delivery id (queued, filling, running, settling). */
  readonly held = new Map<string, Work>();
  readonly inFlight = new Set<Work>();
  /** Attempts take long: new deliveries join the parked line instead of the in-memory queue. */
  slow = false;
  /** How long its requests take, recently (an average weighted to the last ones) (ms). */
  latencyMs = 0;
  throttle: Throttle = NOT_THROTTLED;
  /** The parked line as this owner knows it (see `LineStats`). */
  line: LineStats = { due: 0, parked: 0, nextDueAt: null };
  /** No claim before then: a batching channel's loose deliveries make no batch yet (not enough, not waited enough), or a claim just failed. */
  notBefore: number | null = null;
  claiming = false;
  /** This instance owns the channel's partition. */
  owned: boolean;
  lastUsedAt: number;
  /** Goes up with every decision: health changed, perhaps (see `HealthReporter`). */
  revision = 0;
  private readonly timers: Record<TimerName, number | null> = { wake: null, batch: null, halfOpen: null };
  private readonly outcomes: OutcomeRecord[] = [];

  constructor(
    readonly id: string,
    public orgId: string,
    public partition: number,
    readonly breaker: CircuitBreaker,
    readonly options: LaneOptions,
    /** Makes the id of a batch formed in memory. */
    readonly newBatchId: () => string,
    now: number,
    owned: boolean,
  ) {
    this.lastUsedAt = now;
    this.owned = owned;
  }

  get running(): number {
    return this.inFlight.size;
  }

  /** Deliveries waiting: queued or filling a batch here, or parked in its line. */
  get waiting(): number {
    return this.queue.length + (this.openBatch?.deliveries.length ?? 0) + this.line.parked;
  }

  /** When a timer is set for; null when it is not. */
  timer(name: TimerName): number | null {
    return this.timers[name];
  }

  /** Asks for a timer at `at` (null: none); says so only when that changes. Nothing is set while closing. */
  setTimer(step: Step, name: TimerName, at: number | null): void {
    const when = step.world.closing ? null : at;
    if (this.timers[name] === when) return;
    this.timers[name] = when;
    step.fx.push({ kind: 'timer', timer: name, at: when });
  }

  /** The runtime reports a timer fired: it is set no more. */
  timerFired(name: TimerName): void {
    this.timers[name] = null;
  }

  /** The channel's concurrency here: its `maxConcurrency`, capped by `channelShare`. */
  limit(channel: ChannelState | undefined): number {
    return Math.max(1, Math.min(channel?.maxConcurrency ?? 1, this.options.channelShare));
  }

  /** When a delivery's retry policy's time runs out (now, for a channel that is gone). */
  deadline(channel: ChannelState | undefined, firstSeenAt: Date, now: number): Date {
    return channel ? policyDeadline(channel.retryPolicy, firstSeenAt) : new Date(now);
  }

  /** The rows of deliveries parked now. */
  entries(deliveries: Delivery[], batchId: string | null, attempt: number, step: Step, leasedUntil: Date | null = null): ParkEntry[] {
    const { channel, now } = step.world;
    return deliveries.map((d) => ({ delivery: d, batchId, attempt, dueAt: new Date(now), leasedUntil, expiresAt: this.deadline(channel, d.firstSeenAt, now) }));
  }

  /** How long a claimed work's lease, or a handed-over request's, lasts beyond `from` (ms). */
  leaseMs(channel: ChannelState | undefined, timeouts: number): number {
    return timeouts * (channel?.timeoutMs ?? DEFAULT_TIMEOUT_MS) + this.options.leaseMarginMs;
  }

  /** Works that are done here: forgotten, and their messages may be acknowledged. */
  finish(step: Step, works: Work[]): void {
    for (const w of works) {
      w.state = 'done';
      for (const d of w.deliveries) if (this.held.get(d.request.deliveryId) === w) this.held.delete(d.request.deliveryId);
    }
    this.release(step, works);
  }

  release(step: Step, works: Work[]): void {
    const now = works.filter((w) => !w.released);
    for (const w of now) w.released = true;
    if (now.length > 0) step.fx.push({ kind: 'release', works: now });
  }

  /** Deliveries joined the line, the earliest due at `dueAt`. */
  noteParked(count: number, dueAt: number): void {
    this.line.parked += count;
    this.line.nextDueAt = this.line.nextDueAt === null ? dueAt : Math.min(this.line.nextDueAt, dueAt);
    this.notBefore = null;
  }

  /** Reports a change of the circuit: its alert (opened, closed), and health stored at once. */
  circuitChanged(step: Step, t: CircuitTransition): void {
    const alert = t.to === 'OPEN' ? ev.circuitOpened(this.orgId, this.id, t.at, t.reason) : t.to === 'CLOSED' ? ev.circuitClosed(this.orgId, this.id, t.at) : null;
    step.fx.push({ kind: 'circuit', transition: t, alert });
  }

  /** Asks for a wake-up at `at` at the latest: an earlier one already asked for stands (waking early only looks again). */
  wakeBy(step: Step, at: number): void {
    const set = this.timers.wake;
    if (set === null || at < set) this.setTimer(step, 'wake', at);
  }

  record(outcome: OutcomeRecord): void {
    this.outcomes.push(outcome);
    if (this.outcomes.length > OUTCOMES_KEPT) this.outcomes.shift();
  }

  /** What other instances must hear of soon when it changes: circuit, throttle, slowness, work waiting. */
  summary(now: number): string {
    return `${this.breaker.state}|${this.throttled(now)}|${this.slow}|${this.waiting > 0}`;
  }

  health(now: number): ChannelHealth {
    const until = this.throttle.until;
    return {
      channelId: this.id,
      circuit: this.breaker.state,
      inFlight: this.running,
      waiting: this.waiting,
      throttledUntil: until && until.getTime() > now ? until.toISOString() : null,
      nextProbeAt: this.breaker.halfOpensAt?.toISOString() ?? null,
      lastOutcomes: [...this.outcomes].reverse(),
      updatedAt: new Date(now).toISOString(),
    };
  }

  /** Nothing here needs the lane: it may be forgotten (its state is the default one). */
  idle(now: number): boolean {
    return (
      this.running === 0 &&
      this.queue.length === 0 &&
      this.openBatch === null &&
      this.held.size === 0 &&
      !this.claiming &&
      this.line.parked === 0 &&
      this.line.due === 0 &&
      this.line.nextDueAt === null &&
      this.breaker.state === 'CLOSED' &&
      !this.throttled(now)
    );
  }

  throttled(now: number): boolean {
    return this.throttle.until !== null && this.throttle.until.getTime() > now;
  }
}
