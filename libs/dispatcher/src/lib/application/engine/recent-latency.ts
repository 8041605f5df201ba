/** How many recent answers the typical latency is taken from. */
const KEPT = 256;
/** The typical latency is worked out again at most this often (ms). */
const REFRESH_MS = 250;

/**
 * What requests that got an answer took across all channels lately: the 90th percentile of the
 * last few hundred. An instance short of CPU makes every request slower; a channel is slow only
 * when its requests take far longer than that.
 */
export class RecentLatency {
  private readonly ring = new Float64Array(KEPT);
  private count = 0;
  private next = 0;
  private p90 = 0;
  private computedAt = 0;

  record(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % KEPT;
    if (this.count < KEPT) this.count++;
  }

  /** The 90th percentile (ms); 0 before any answer. */
  typical(now = Date.now()): number {
    if (now - this.computedAt >= REFRESH_MS) {
      this.computedAt = now;
      const sorted = this.ring.slice(0, this.count).sort();
      this.p90 = this.count === 0 ? 0 : sorted[Math.min(this.count - 1, Math.floor(this.count * 0.9))];
    }
    return this.p90;
  }
}
