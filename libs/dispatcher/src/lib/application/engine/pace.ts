import { IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { RecentLatency } from './recent-latency';

/**
 * How fast things go on this instance lately: what answers take across all channels (p90 of the
 * last few hundred), and how late the event loop runs (p99, sampled every half `holdMs`). From
 * them, the bound past which a request in flight makes its channel slow.
 */
export class Pace {
  private readonly latency = new RecentLatency();
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private loopLagMs = 0;

  constructor(private readonly holdMs: number) {}

  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
  }

  /** Takes the event loop's lag since the last sample (call every half `holdMs`). */
  sample(): void {
    this.loopLagMs = this.loopDelay.percentile(99) / 1e6;
    this.loopDelay.reset();
  }

  /** An answer that came back (a timeout is not one). */
  record(ms: number): void {
    this.latency.record(ms);
  }

  /** What answers take lately (p90, ms); 0 before any answer. */
  typical(now = Date.now()): number {
    return this.latency.typical(now);
  }

  /**
   * How long a request may be in flight before its channel counts as slow: `holdMs`, or four times
   * what requests take across all channels lately when that is longer — an instance short of CPU
   * makes every request slower, and that must not make every channel "slow" — plus how late the
   * event loop runs lately (an answer that waited for a busy loop is not the partner's slowness).
   */
  slowAfterMs(now = Date.now()): number {
    return Math.max(this.holdMs, 4 * this.latency.typical(now)) + this.loopLagMs;
  }
}
