import type { OutgoingMessage } from '@waybill/messaging';
import * as ev from '../delivery-events';
import type { ParkEntry } from '../ports';
import type { Work } from '../work';
import { commit } from './attempt';
import { noWrites } from './lane-protocol';
import type { LaneState, Step } from './lane-state';

/**
 * The commit point's bound, the lane's part: which of a batch's works would hold it up, parked so
 * that the batch need not wait for them — `everything` once `maxHoldMs` has passed.
 */
export function holdCheck(lane: LaneState, works: Work[], everything: boolean, step: Step): void {
  const stragglers = works.filter(
    (w) => !w.released && w.stored !== 'writing' && (w.state === 'buffering' || w.state === 'queued' || w.state === 'running') && (everything || holdsUp(lane, w, step)),
  );
  if (stragglers.length > 0) handOver(lane, stragglers, step);
}

/**
 * Whether a work would hold its batch up: its request is slow, its channel is, or it is queued
 * behind a burst far beyond its channel's concurrency — the rounds ahead of it would take more
 * than half of `maxHoldMs`, and far more than what requests take lately (its partition's other
 * channels should not wait for it). Waiting behind a busy, healthy channel for a few rounds is the
 * ordinary way of things, however loaded the instance is.
 */
export function holdsUp(lane: LaneState, work: Work, step: Step): boolean {
  const { now, slowAfterMs, typicalMs, channel } = step.world;
  if (work.state === 'running') return now - work.startedAt >= slowAfterMs;
  if (lane.slow) return true;
  if (work.state === 'buffering') return false; // flushed within holdMs / 2
  const ahead = lane.queue.indexOf(work) + 1;
  return Math.ceil(ahead / lane.limit(channel)) * lane.latencyMs > Math.max(lane.options.maxHoldMs / 2, 8 * typicalMs);
}

/**
 * Parks works a batch will not wait for: a running one under a lease (the attempt goes on and
 * settles the row when it ends; its channel is slow when it has run that long), the others
 * waiting in the channel's line — a batch still filling joins it loose (the partner never saw its id).
 */
function handOver(lane: LaneState, works: Work[], step: Step): void {
  const { now, slowAfterMs, channel } = step.world;
  const entries: ParkEntry[] = [];
  const running: Work[] = [];
  const waiting: Work[] = [];
  for (const work of works) {
    if (work.state === 'running') {
      entries.push(...lane.entries(work.deliveries, work.batchId, work.attempt, step, new Date(work.startedAt + lane.leaseMs(channel, 1))));
      work.stored = 'writing';
      running.push(work);
      if (now - work.startedAt >= slowAfterMs) lane.slow = true;
      continue;
    }
    if (work === lane.openBatch) {
      lane.setTimer(step, 'batch', null);
      lane.openBatch = null;
    }
    const at = lane.queue.indexOf(work);
    if (at >= 0) lane.queue.splice(at, 1);
    entries.push(...lane.entries(work.deliveries, work.state === 'buffering' ? null : work.batchId, work.attempt, step));
    work.state = 'settling';
    waiting.push(work);
  }
  const writes = noWrites();
  writes.park = entries;
  writes.parkedFor = { handover: entries.length };
  step.fx.push({ kind: 'write', writes, then: { kind: 'handedOver', running, waiting }, frees: null });
}

/**
 * The hand-over is written: the waiting works are in the line (done here), the running ones leased —
 * their messages may be acknowledged, and one whose answer came meanwhile settles its rows now.
 */
export function handedOver(lane: LaneState, running: Work[], waiting: Work[], step: Step): void {
  for (const w of running) {
    w.stored = true;
    lane.release(step, [w]);
    if (w.plan && w.state === 'settling') commit(lane, w, step);
  }
  for (const w of waiting) {
    lane.line.due += w.deliveries.length;
    lane.noteParked(w.deliveries.length, step.world.now);
  }
  lane.finish(step, waiting);
}

/**
 * Requests in flight for `slowAfterMs` or longer: each is announced once with `delivery.started`
 * (the status shows SENDING while a partner hangs; a request answered quickly costs no event), and
 * they make the channel slow — its later deliveries join its line, and its requests in flight move
 * to the slow pool of the budget, leaving the normal pool to healthy channels.
 */
export function slowCheck(lane: LaneState, step: Step): void {
  const { now, slowAfterMs } = step.world;
  const since = now - slowAfterMs;
  const started: OutgoingMessage[] = [];
  for (const work of lane.inFlight) {
    if (work.announced || work.state !== 'running' || work.startedAt > since) continue;
    work.announced = true;
    for (const d of work.deliveries) started.push(ev.started(d, work.attempt, new Date(work.startedAt), new Date(now)));
  }
  if (started.length > 0) step.fx.push({ kind: 'announce', events: started });
  for (const work of lane.inFlight) {
    if (work.slot !== 'normal') continue;
    if (!lane.slow && work.startedAt <= since) lane.slow = true;
    if (!lane.slow) continue;
    work.slot = 'slow';
    step.room.normal++;
    step.room.slow--;
    step.fx.push({ kind: 'demote', work });
  }
}
