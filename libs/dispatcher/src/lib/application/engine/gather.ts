import type { OutgoingMessage } from '@waybill/messaging';
import type { ChannelLane } from './lane/channel-lane';
import { LaneEvent, noWrites, Writes } from './lane/lane-protocol';
import type { ParkReason } from './ports';
import type { Work } from './work';

/**
 * What one caller of the runtime gathers of the effects its events caused: the works it must hold
 * (an accept), the writes it must wait for (a hold check), the announcements to publish at once (a
 * slow check). An accept's writes are merged (`merged`): made together once every delivery of its
 * batch has been decided, the way one batch makes one statement.
 */
export class Gather {
  readonly held = new Set<Work>();
  readonly waits: Promise<void>[] = [];
  readonly announce: OutgoingMessage[] = [];
  readonly merged: { writes: Writes; parked: Map<ChannelLane, number> } | null;

  constructor(opts: { mergeWrites: boolean }) {
    this.merged = opts.mergeWrites ? { writes: noWrites(), parked: new Map() } : null;
  }

  /** Adds a lane's (or a lane-less delivery's) writes to the merged ones; `then` may only count what it parked. */
  merge(w: Writes, lane: ChannelLane | null, then: LaneEvent | null): void {
    const m = this.merged;
    if (!m || w.settle) throw new Error('only an arrival writes into a merged gather');
    m.writes.pull.push(...w.pull);
    m.writes.events.push(...w.events);
    m.writes.finished.push(...w.finished);
    m.writes.park.push(...w.park);
    for (const [reason, n] of Object.entries(w.parkedFor) as [ParkReason, number][]) m.writes.parkedFor[reason] = (m.writes.parkedFor[reason] ?? 0) + n;
    if (!then) return;
    if (!lane || then.kind !== 'handedOff' || then.works.length > 0) throw new Error(`an arrival cannot be followed by ${then.kind}`);
    m.parked.set(lane, (m.parked.get(lane) ?? 0) + then.parked);
  }
}
