import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { ChannelState } from '@waybill/contracts';
import type { CircuitState } from '@waybill/delivery';

export type BreakerSettings = ChannelState['circuitBreaker'];

/** Length of one bucket of every breaker's rolling window (ms); a window is 10 of them. */
export const BUCKET_MS = 1_000;
const BUCKETS = 10;
const WINDOW_MS = BUCKETS * BUCKET_MS;

/**
 * The one timer of every breaker's rolling window: each tick moves all windows on by one bucket
 * (opossum's `rotateBucketController`), instead of two intervals per breaker.
 */
export class BreakerClock {
  readonly rotation = new EventEmitter();
  private readonly timer: NodeJS.Timeout;

  constructor(bucketMs = BUCKET_MS) {
    this.rotation.setMaxListeners(0);
    this.timer = setInterval(() => this.rotation.emit('rotate'), bucketMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A change of a channel's circuit, as its alerts and health report it. */
export type CircuitTransition =
  | { to: 'OPEN'; at: Date; reason: string; halfOpensAt: Date }
  | { to: 'HALF_OPEN'; at: Date }
  | { to: 'CLOSED'; at: Date };

/** The circuit did not let a request through (open, or half-open with its probe already out). */
export class CircuitOpenError extends Error {
  readonly code = 'CIRCUIT_OPEN';
  constructor(readonly channelId: string) {
    super(`the circuit of channel ${channelId} is open`);
  }
}

/** Carries a result that counts as a failure through opossum, which only counts rejections. */
class CountedFailure<T> extends Error {
  constructor(
    readonly result: T,
    readonly description: string,
  ) {
    super(description);
  }
}

/**
 * One channel's circuit breaker: opossum with the channel's settings, its own timeout off (the
 * request's timeout is undici's), the window rotated by the shared {@link BreakerClock}. A visible
 * state machine: CLOSED → OPEN when the failure rate passes the threshold (with enough volume),
 * OPEN → HALF_OPEN after `resetTimeoutMs`, HALF_OPEN lets one probe through, which closes it
 * (with a fresh window) or opens it again. Each change goes to `onTransition`.
 *
 * A channel that does not fail needs no window: the opossum breaker is made at the first failure
 * that counts, and dropped again after a whole window without one (thousands of healthy channels
 * then cost a few fields each, not a breaker each).
 */
export class ChannelBreaker {
  private breaker: CircuitBreaker<[() => Promise<unknown>], unknown> | null = null;
  private madeAt = 0;
  private settings: BreakerSettings;
  /** New settings wait until the circuit is closed (a rebuild must not forget that it is open). */
  private pendingSettings: BreakerSettings | null = null;
  private openedAt: number | null = null;
  private lastFailure = '';

  constructor(
    readonly channelId: string,
    settings: BreakerSettings,
    private readonly clock: BreakerClock,
    private readonly onTransition: (t: CircuitTransition) => void,
  ) {
    this.settings = { ...settings };
  }

  get state(): CircuitState {
    if (!this.breaker) return 'CLOSED';
    if (this.breaker.halfOpen) return 'HALF_OPEN';
    return this.breaker.opened ? 'OPEN' : 'CLOSED';
  }

  /** Whether it keeps a window now (it has seen a failure that counts lately). */
  get tracking(): boolean {
    return this.breaker !== null;
  }

  /** When an OPEN circuit half-opens; null in the other states. */
  get halfOpensAt(): Date | null {
    return this.state === 'OPEN' && this.openedAt !== null ? new Date(this.openedAt + this.settings.resetTimeoutMs) : null;
  }

  /** Applies a channel's (possibly changed) settings: at once when closed, else once it closes. */
  configure(settings: BreakerSettings): void {
    const current = this.pendingSettings ?? this.settings;
    if (sameSettings(current, settings)) return;
    if (this.state === 'CLOSED') {
      this.settings = { ...settings };
      this.pendingSettings = null;
      if (this.breaker) this.replace();
    } else {
      this.pendingSettings = { ...settings };
    }
  }

  /**
   * Runs `send` through the circuit and resolves with its result. A result for which `counts` is
   * true is recorded as a failure (described by `describe` for the alert). Rejects with
   * {@link CircuitOpenError} when the circuit does not let the request through.
   */
  async run<T>(send: () => Promise<T>, counts: (result: T) => boolean, describe: (result: T) => string): Promise<T> {
    if (!this.breaker) {
      // No window yet: send, and start one if this (or a request that ended meanwhile) failed.
      const result = await send();
      const failed = counts(result);
      if (!failed && !this.breaker) return result;
      if (!this.breaker) {
        this.breaker = this.build();
        this.madeAt = Date.now();
      }
      await this.breaker.fire(async () => this.judge(result, failed, describe)).catch(() => undefined); // recorded; an open circuit refuses the record, not the result
      return result;
    }
    const breaker = this.breaker;
    try {
      const result = (await breaker.fire(async () => this.judge(await send(), undefined, describe, counts))) as T;
      if (this.breaker === breaker && this.state === 'CLOSED' && Date.now() - this.madeAt >= WINDOW_MS && breaker.stats.failures === 0) {
        this.breaker = null; // a whole window without a failure
        breaker.shutdown();
      }
      return result;
    } catch (err) {
      if (err instanceof CountedFailure) return err.result as T;
      if ((err as { code?: string }).code === 'EOPENBREAKER') throw new CircuitOpenError(this.channelId);
      throw err;
    }
  }

  dispose(): void {
    this.breaker?.shutdown();
    this.breaker = null;
  }

  /** A result as opossum must see it: a rejection when it counts as a failure. */
  private judge<T>(result: T, failed: boolean | undefined, describe: (result: T) => string, counts?: (result: T) => boolean): T {
    if (failed ?? counts?.(result)) throw new CountedFailure(result, describe(result));
    return result;
  }

  private build(): CircuitBreaker<[() => Promise<unknown>], unknown> {
    const breaker = new CircuitBreaker((send: () => Promise<unknown>) => send(), {
      timeout: false,
      errorThresholdPercentage: this.settings.errorThresholdPercentage,
      volumeThreshold: this.settings.volumeThreshold,
      resetTimeout: this.settings.resetTimeoutMs,
      rollingCountTimeout: BUCKETS * BUCKET_MS,
      rollingCountBuckets: BUCKETS,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: this.clock.rotation,
      name: this.channelId,
    });
    breaker.on('failure', (err: unknown) => {
      if (err instanceof CountedFailure) this.lastFailure = err.description;
    });
    breaker.on('open', () => {
      const wasHalfOpen = this.openedAt !== null;
      this.openedAt = Date.now();
      const stats = breaker.stats;
      const reason = wasHalfOpen
        ? `the half-open probe failed: ${this.lastFailure}`
        : `${stats.failures} of ${stats.fires} requests failed within ${(BUCKETS * BUCKET_MS) / 1000} s ` +
          `(threshold ${this.settings.errorThresholdPercentage}%); last: ${this.lastFailure}`;
      this.onTransition({ to: 'OPEN', at: new Date(this.openedAt), reason, halfOpensAt: new Date(this.openedAt + this.settings.resetTimeoutMs) });
    });
    breaker.on('halfOpen', () => this.onTransition({ to: 'HALF_OPEN', at: new Date() }));
    breaker.on('close', () => {
      if (this.openedAt === null) return; // the constructor's own close
      this.openedAt = null;
      // A fresh window (and the settings that waited) once the probe closed the circuit: the
      // failures that opened it must not open it again at the next one.
      // (At once: a request fired right after the close must count in the new window. The old
      // breaker finishes its probe's bookkeeping unheard: shutdown removed its listeners.)
      if (this.pendingSettings) this.settings = this.pendingSettings;
      this.pendingSettings = null;
      this.replace();
      this.onTransition({ to: 'CLOSED', at: new Date() });
    });
    return breaker;
  }

  private replace(): void {
    const old = this.breaker;
    this.breaker = this.build();
    this.madeAt = Date.now();
    old?.shutdown();
  }
}

function sameSettings(a: BreakerSettings, b: BreakerSettings): boolean {
  return a.errorThresholdPercentage === b.errorThresholdPercentage && a.volumeThreshold === b.volumeThreshold && a.resetTimeoutMs === b.resetTimeoutMs;
}
