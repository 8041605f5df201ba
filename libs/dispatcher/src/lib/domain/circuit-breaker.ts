import type { ChannelState } from '@waybill/contracts';
import type { CircuitState } from '@waybill/delivery';

export type BreakerSettings = ChannelState['circuitBreaker'];

/** Length of one bucket of a breaker's rolling window (ms); a window is {@link BUCKETS} of them. */
export const BUCKET_MS = 1_000;
export const BUCKETS = 10;
const WINDOW_S = (BUCKETS * BUCKET_MS) / 1_000;

/** A change of a channel's circuit, as its alerts and health report it. */
export type CircuitTransition =
  | { to: 'OPEN'; at: Date; reason: string; halfOpensAt: Date }
  | { to: 'HALF_OPEN'; at: Date }
  | { to: 'CLOSED'; at: Date };

/**
 * Requests sent and failures counted over the last {@link BUCKETS} buckets of {@link BUCKET_MS}.
 * Buckets are numbered by time (`floor(now / BUCKET_MS)`), so the window moves on by itself as
 * time passes: no timer, for any number of breakers.
 */
class RollingWindow {
  private readonly fires = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  /** The newest bucket's number; null before the first count. */
  private head: number | null = null;

  fire(now: number): void {
    this.fires[this.roll(now)]++;
  }

  fail(now: number): void {
    this.failures[this.roll(now)]++;
  }

  totals(now: number): { fires: number; failures: number } {
    this.roll(now);
    let fires = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      fires += this.fires[i];
      failures += this.failures[i];
    }
    return { fires, failures };
  }

  /** Empties the buckets that fell out of the window since the last count; answers the newest's slot. */
  private roll(now: number): number {
    const bucket = Math.floor(now / BUCKET_MS);
    if (this.head === null || bucket - this.head >= BUCKETS) {
      this.fires.fill(0);
      this.failures.fill(0);
    } else {
      for (let b = this.head + 1; b <= bucket; b++) {
        this.fires[b % BUCKETS] = 0;
        this.failures[b % BUCKETS] = 0;
      }
    }
    if (this.head === null || bucket > this.head) this.head = bucket;
    return this.head % BUCKETS;
  }
}

/**
 * One channel's circuit breaker, as a plain state machine: time comes in as a value, changes come
 * out as {@link CircuitTransition}s, and nothing runs by itself (no timer, no promise).
 *
 *     CLOSED ──(≥ volumeThreshold sent in the window, and more than errorThresholdPercentage % failed)──▶ OPEN
 *     OPEN ──(resetTimeoutMs later: tick)──▶ HALF_OPEN
 *     HALF_OPEN: one request goes (the probe); any answer decides:
 *        a success ──▶ CLOSED, with a fresh window (and the settings that waited)
 *        a failure ──▶ OPEN again, for another resetTimeoutMs
 *
 * The rules are opossum's (errorThresholdPercentage, volumeThreshold, resetTimeout, a rolling
 * window of ten one-second buckets; sends counted as they leave, failures as they come back), and
 * `circuit-breaker.spec.ts` checks that it goes through the same states as opossum on random
 * histories. Which answers count as failures is the caller's rule (`countsAsBreakerFailure`).
 */
export class CircuitBreaker {
  private circuit: CircuitState = 'CLOSED';
  private settings: BreakerSettings;
  /** New settings wait until the circuit is closed (they must not shorten an open circuit's wait). */
  private pendingSettings: BreakerSettings | null = null;
  /** Made at the first request: a channel never sent to keeps no window. */
  private window: RollingWindow | null = null;
  private halfOpensAtMs: number | null = null;
  private probe = false;

  constructor(settings: BreakerSettings) {
    this.settings = { ...settings };
  }

  get state(): CircuitState {
    return this.circuit;
  }

  /** When an OPEN circuit half-opens; null in the other states. */
  get halfOpensAt(): Date | null {
    return this.circuit === 'OPEN' && this.halfOpensAtMs !== null ? new Date(this.halfOpensAtMs) : null;
  }

  /** HALF_OPEN with its probe out: nothing else may go. */
  get probeOut(): boolean {
    return this.circuit === 'HALF_OPEN' && this.probe;
  }

  /** Applies a channel's (possibly changed) settings: at once when closed, else once it closes. */
  configure(settings: BreakerSettings): void {
    const current = this.pendingSettings ?? this.settings;
    if (sameSettings(current, settings)) return;
    if (this.circuit === 'CLOSED') this.settings = { ...settings };
    else this.pendingSettings = { ...settings };
  }

  /** OPEN → HALF_OPEN once its reset timeout has passed. */
  tick(now: number): CircuitTransition | null {
    if (this.circuit !== 'OPEN' || this.halfOpensAtMs === null || now < this.halfOpensAtMs) return null;
    this.circuit = 'HALF_OPEN';
    this.probe = false;
    this.halfOpensAtMs = null;
    return { to: 'HALF_OPEN', at: new Date(now) };
  }

  /** A request leaves: it counts in the window; while HALF_OPEN, it is the probe. */
  fired(now: number): void {
    (this.window ??= new RollingWindow()).fire(now);
    if (this.circuit === 'HALF_OPEN') this.probe = true;
  }

  /** The probe ended without an answer (cut off by a shutdown): another may go. */
  probeLost(): void {
    this.probe = false;
  }

  /** A request's answer: `failed` when it counts against the channel (`description` says what it was). */
  answered(failed: boolean, description: string, now: number): CircuitTransition | null {
    if (failed) (this.window ??= new RollingWindow()).fail(now);
    switch (this.circuit) {
      case 'HALF_OPEN':
        return failed ? this.open(now, `the half-open probe failed: ${description}`) : this.close(now);
      case 'OPEN':
        return null; // a request sent before it opened: counted, and nothing more
      case 'CLOSED': {
        if (!failed || !this.window) return null;
        const { fires, failures } = this.window.totals(now);
        if (fires < this.settings.volumeThreshold || (failures / fires) * 100 <= this.settings.errorThresholdPercentage) return null;
        return this.open(
          now,
          `${failures} of ${fires} requests failed within ${WINDOW_S} s (threshold ${this.settings.errorThresholdPercentage}%); last: ${description}`,
        );
      }
      default:
        return assertNever(this.circuit);
    }
  }

  private open(now: number, reason: string): CircuitTransition {
    this.circuit = 'OPEN';
    this.probe = false;
    this.halfOpensAtMs = now + this.settings.resetTimeoutMs;
    return { to: 'OPEN', at: new Date(now), reason, halfOpensAt: new Date(this.halfOpensAtMs) };
  }

  /** Closed by a probe's success: a fresh window, so the failures that opened it do not open it again at once. */
  private close(now: number): CircuitTransition {
    this.circuit = 'CLOSED';
    this.probe = false;
    this.window = null;
    if (this.pendingSettings) this.settings = this.pendingSettings;
    this.pendingSettings = null;
    return { to: 'CLOSED', at: new Date(now) };
  }
}

function sameSettings(a: BreakerSettings, b: BreakerSettings): boolean {
  return a.errorThresholdPercentage === b.errorThresholdPercentage && a.volumeThreshold === b.volumeThreshold && a.resetTimeoutMs === b.resetTimeoutMs;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
