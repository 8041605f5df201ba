import type { Log } from '@waybill/messaging';
import type { ChannelLane } from './lane/channel-lane';
import type { HealthStore } from './ports';

/**
 * Stores the health of the channels this instance owns, for any instance to answer with: of those
 * whose summary changed (circuit, throttle, slowness, work waiting) at each flush, and of the others
 * that changed at most every `refreshMs` — thousands of busy channels must not mean thousands of
 * rows written a second.
 */
export class HealthReporter {
  /** What was last stored of each lane: at which of its decisions, its summary then, and when. */
  private readonly stored = new Map<string, { revision: number; summary: string; at: number }>();

  constructor(
    private readonly store: HealthStore,
    private readonly refreshMs: number,
    private readonly log: Log,
  ) {}

  async flush(lanes: Iterable<ChannelLane>, now = Date.now()): Promise<void> {
    const due: { lane: ChannelLane; summary: string }[] = [];
    for (const lane of lanes) {
      if (!lane.owned) continue;
      const last = this.stored.get(lane.id);
      if (last?.revision === lane.revision) continue; // nothing happened since
      const summary = lane.summary(now);
      if (!last || summary !== last.summary || now - last.at >= this.refreshMs) due.push({ lane, summary });
    }
    if (due.length === 0) return;
    for (const { lane, summary } of due) this.stored.set(lane.id, { revision: lane.revision, summary, at: now });
    try {
      await this.store.save(due.map(({ lane }) => ({ ...lane.health(now), orgId: lane.orgId })));
    } catch (err) {
      for (const { lane } of due) this.stored.delete(lane.id);
      this.log.warn({ err }, 'dispatcher: storing channel health failed; will try again');
    }
  }

  forget(channelId: string): void {
    this.stored.delete(channelId);
  }
}
