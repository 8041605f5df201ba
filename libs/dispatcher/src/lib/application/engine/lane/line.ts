import type { LineStats, ParkedRow } from '../ports';
import { Work } from '../work';
import type { LaneState, Step } from './lane-state';

/** Most works taken at once from the line of a channel that is gone or turned PULL (they are moved on, not sent). */
const MOVE_ON = 50;
/** After a claim failed, the next is tried this much later (ms). */
const CLAIM_RETRY_MS = 1_000;

/**
 * The parked line as the lane sees it: what is due, when the next row becomes due, and how much
 * to take now. Takes from the line as much as the channel has room for when something is due;
 * otherwise asks to be woken when something becomes due. Only the partition's owner takes.
 */
export function wake(lane: LaneState, step: Step): void {
  const { world } = step;
  if (lane.claiming || world.closing || !lane.owned) return;
  const now = world.now;
  if (lane.notBefore !== null && lane.notBefore > now) return lane.setTimer(step, 'wake', lane.notBefore);
  const due = lane.line.due > 0 || (lane.line.nextDueAt !== null && lane.line.nextDueAt <= now);
  if (!due) return lane.setTimer(step, 'wake', lane.line.nextDueAt);
  const count = roomFor(lane, step);
  if (count <= 0) return;
  lane.claiming = true;
  const channel = world.channel;
  // Long enough for the ones taken ahead to wait their turn and run.
  const leasedUntil = new Date(now + lane.leaseMs(channel, 2));
  step.fx.push({ kind: 'claim', count, leasedUntil, batch: channel?.type === 'HTTP' ? channel.batch : null });
}

/** How many works the lane can take from its line now; when it is blocked, when to look again. */
export function roomFor(lane: LaneState, step: Step): number {
  const { channel, now } = step.world;
  // A deleted channel, or one that turned PULL: its line is moved on (failed, or to the pull queue).
  if (!channel || channel.type !== 'HTTP') return MOVE_ON;
  if (!channel.enabled) {
    lane.wakeBy(step, now + lane.options.disabledRecheckMs);
    return 0;
  }
  switch (lane.breaker.state) {
    case 'OPEN':
      return 0; // its half-open wakes the lane
    case 'HALF_OPEN':
      return lane.breaker.probeOut || lane.running > 0 || lane.queue.length > 0 ? 0 : 1;
    case 'CLOSED':
      break;
  }
  if (lane.throttled(now)) {
    lane.wakeBy(step, (lane.throttle.until as Date).getTime());
    return 0;
  }
  // Taken a little ahead (up to twice the channel's limit), so that claims come in rounds, not one
  // per finished request; a lane with that much at hand takes nothing. (Works taken from the line
  // are the head of the queue: they go in front of what came from the log.)
  const limit = lane.limit(channel);
  let taken = 0;
  while (taken < lane.queue.length && lane.queue[taken].stored === true) taken++;
  const wanted = 2 * limit - lane.running - taken;
  if (taken >= limit || wanted <= 0) return 0;
  const budget = step.room[lane.slow ? 'slow' : 'normal'];
  if (budget <= 0) step.fx.push({ kind: 'awaitRoom' });
  return Math.min(wanted, budget + limit);
}

/**
 * Rows taken from the line: works at the head of the queue (those whose deliveries are in memory
 * already — running after a hand-over — stay with the works that hold them). When fewer came than
 * asked, the line as it is now; a batching channel's loose rows make no batch before `readyAt`.
 */
export function claimed(lane: LaneState, rows: ParkedRow[][], readyAt: number | null, line: LineStats | null, step: Step): void {
  lane.claiming = false;
  const works = rows.map((r) => new Work(lane.id, r.map((x) => x.delivery), r[0].batchId, r[0].attempt, { stored: true }));
  const taken = works.reduce((n, w) => n + w.deliveries.length, 0);
  if (line) lane.line = { ...line };
  else {
    lane.line.due = Math.max(0, lane.line.due - taken);
    lane.line.parked = Math.max(0, lane.line.parked - taken);
  }
  lane.notBefore = readyAt;
  const fresh = works.filter((w) => w.deliveries.every((d) => !lane.held.has(d.request.deliveryId)));
  for (const w of fresh) for (const d of w.deliveries) lane.held.set(d.request.deliveryId, w);
  lane.queue.unshift(...fresh);
  if (readyAt !== null) lane.setTimer(step, 'wake', readyAt);
  else if (line) lane.setTimer(step, 'wake', line.nextDueAt);
}

/** Taking from the line failed: look again in a second. */
export function claimFailed(lane: LaneState, step: Step): void {
  lane.claiming = false;
  lane.notBefore = step.world.now + CLAIM_RETRY_MS;
}

/** `parked` deliveries joined the line, due now (and the works handed off are done here). */
export function handedOff(lane: LaneState, works: Work[], parked: number, step: Step): void {
  lane.finish(step, works);
  if (parked === 0) return;
  lane.line.due += parked;
  lane.noteParked(parked, step.world.now);
}

/** Waiting rows whose retry policy's time ran out were removed. */
export function expired(lane: LaneState, count: number): void {
  lane.line.parked = Math.max(0, lane.line.parked - count);
  lane.line.due = Math.max(0, lane.line.due - count);
}
