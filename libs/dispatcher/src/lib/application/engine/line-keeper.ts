import { delay, Log } from '@waybill/messaging';
import { newId } from '@waybill/platform';
import * as ev from './delivery-events';
import type { Effect } from './lane/lane-protocol';
import type { ChannelLine, LineStats, ParkedLineStore, ParkedRow } from './ports';

/** Most rows a sweep expires at once. */
const EXPIRY_BATCH = 500;

export interface LineKeeperDeps {
  parked: ParkedLineStore;
  log: Log;
  expirySweepMs: number;
  /** The partitions this instance owns now. */
  owned(): number[];
  closing(): boolean;
  /** Whether any line this instance knows of holds something. */
  anyParked(): boolean;
  /** The lines of partitions just taken over. */
  loaded(lines: ChannelLine[]): void;
  /** Waiting rows of a channel whose policy's time ran out were removed. */
  expired(channelId: string, count: number): void;
}

/**
 * The parked line's I/O apart from parking and settling: the lines of partitions taken over, read
 * once (from then on each lane knows its line in memory); claims, as a lane asks for them; and the
 * sweep that ends waiting deliveries whose retry policy's time ran out (FAILED with
 * `delivery.exhausted`, through the outbox), every `expirySweepMs` while anything is parked.
 */
export class LineKeeper {
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: LineKeeperDeps) {}

  /** Reads the lines of `partitions`, trying again until it can (or the instance stops). */
  async load(partitions: number[]): Promise<void> {
    for (let failures = 0; !this.deps.closing(); failures++) {
      try {
        this.deps.loaded(await this.deps.parked.lines(partitions));
        this.scheduleExpiry(0);
        return;
      } catch (err) {
        this.deps.log.warn({ err, partitions }, 'dispatcher: could not read the parked lines of new partitions; will try again');
        await delay(Math.min(5_000, 200 * 2 ** failures));
      }
    }
  }

  /** Takes what a lane asked for: whole batches formed earlier, then new batches of loose rows, or single rows; the line as it is now when fewer came. */
  async claim(channelId: string, e: Extract<Effect, { kind: 'claim' }>): Promise<{ works: ParkedRow[][]; readyAt: number | null; line: LineStats | null }> {
    const { parked } = this.deps;
    const works: ParkedRow[][] = [];
    let readyAt: number | null = null;
    if (e.batch) {
      works.push(...(await parked.claimBatches(channelId, e.count, e.leasedUntil)));
      while (works.length < e.count) {
        const loose = await parked.claimLoose(channelId, e.batch, newId('bat'), e.leasedUntil);
        if (loose.rows.length === 0) {
          readyAt = loose.readyAt;
          break;
        }
        works.push(loose.rows);
      }
    } else {
      for (const row of await parked.claim(channelId, e.count, e.leasedUntil)) works.push([row]);
    }
    const line = works.length < e.count ? await parked.lineStats(channelId) : null;
    return { works, readyAt, line };
  }

  /** Looks for waiting deliveries whose retry policy ran out, in `inMs` (unless a look is due already). */
  scheduleExpiry(inMs = this.deps.expirySweepMs): void {
    if (this.expiryTimer || this.deps.closing()) return;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      void this.expire();
    }, inMs);
    this.expiryTimer.unref();
  }

  stop(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  private async expire(): Promise<void> {
    const partitions = this.deps.owned();
    if (partitions.length === 0) return;
    try {
      const now = new Date();
      const rows = await this.deps.parked.expire(partitions, EXPIRY_BATCH, (expired) =>
        expired.flatMap((r) => ev.spent(r.delivery, "the retry policy's time ran out while the delivery waited", r.attempt - 1, null, now)),
      );
      const byChannel = new Map<string, number>();
      for (const r of rows) byChannel.set(r.delivery.request.channelId, (byChannel.get(r.delivery.request.channelId) ?? 0) + 1);
      for (const [channelId, count] of byChannel) this.deps.expired(channelId, count);
      if (rows.length === EXPIRY_BATCH) return this.scheduleExpiry(0);
    } catch (err) {
      this.deps.log.warn({ err }, 'dispatcher: expiring waiting deliveries failed; will try again');
    }
    if (this.deps.anyParked()) this.scheduleExpiry();
  }
}
