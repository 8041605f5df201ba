import type { ChannelState } from '@waybill/contracts';
import { admit, Admission, policyDeadline } from '@waybill/delivery';
import * as ev from '../delivery-events';
import { Delivery, Work } from '../work';
import { noWrites, Writes } from './lane-protocol';
import type { LaneOptions, LaneState, Step } from './lane-state';
import { assertNever, failEvents, gateOf } from './sending';

/**
 * A delivery read from the log, for a channel with a lane. Held in memory when the channel takes
 * it now (`admit`: send) — queued, or into the batch being filled — so that the commit point waits
 * for it; otherwise written where it goes: the parked line (announced when it waits for the
 * channel), or its end. A delivery read again while its work is in memory is held by that work.
 */
export function arrive(lane: LaneState, d: Delivery, step: Step): void {
  const held = lane.held.get(d.request.deliveryId);
  if (held) {
    step.fx.push({ kind: 'hold', work: held });
    return;
  }
  const { channel, now } = step.world;
  lane.lastUsedAt = now;
  const deadline = lane.deadline(channel, d.firstSeenAt, now);
  let admission: Admission = admit(gateOf(lane, channel, now), deadline, new Date(now));
  if (admission.kind === 'send' && channel?.batch && !buffersInMemory(channel.batch, lane.options)) admission = { kind: 'line' };
  if (admission.kind === 'send') return enqueue(lane, channel as ChannelState, d, step);
  const writes = writesOf(d, admission, deadline, now);
  const parked = writes.park.length;
  step.fx.push({ kind: 'write', writes, then: parked > 0 ? { kind: 'handedOff', works: [], parked } : null, frees: null });
}

/**
 * A delivery for a channel without a lane (PULL, or gone from the replica): into the pull queue,
 * or ended FAILED.
 */
export function arriveWithoutLane(d: Delivery, channel: ChannelState | undefined, now: number): Writes {
  const deadline = channel ? policyDeadline(channel.retryPolicy, d.firstSeenAt) : new Date(now);
  return writesOf(d, admit(gateOf(null, channel, now), deadline, new Date(now)), deadline, now);
}

/** A batch that fills within the hold time is filled in memory; a longer wait belongs to the parked line. */
export function buffersInMemory(batch: NonNullable<ChannelState['batch']>, options: LaneOptions): boolean {
  return batch.maxItems === 1 || batch.maxWaitMs <= options.holdMs / 2;
}

/** The batch being filled goes to the queue: full, of another format's turn, or waited `maxWaitMs`. */
export function flushBatch(lane: LaneState, step: Step): void {
  const work = lane.openBatch;
  if (!work) return;
  lane.setTimer(step, 'batch', null);
  lane.openBatch = null;
  work.state = 'queued';
  lane.queue.push(work);
}

function enqueue(lane: LaneState, channel: ChannelState, d: Delivery, step: Step): void {
  const id = d.request.deliveryId;
  if (!channel.batch) {
    const work = new Work(lane.id, [d], null, 1, { stored: false });
    lane.queue.push(work);
    lane.held.set(id, work);
    step.fx.push({ kind: 'hold', work });
    return;
  }
  let open = lane.openBatch;
  if (open && open.deliveries[0].request.format !== d.request.format) {
    flushBatch(lane, step);
    open = null;
  }
  if (!open) {
    open = new Work(lane.id, [], lane.newBatchId(), 1, { stored: false, state: 'buffering' });
    lane.openBatch = open;
    lane.setTimer(step, 'batch', step.world.now + channel.batch.maxWaitMs);
  }
  open.deliveries.push(d);
  lane.held.set(id, open);
  step.fx.push({ kind: 'hold', work: open });
  if (open.deliveries.length >= channel.batch.maxItems) flushBatch(lane, step);
}

function writesOf(d: Delivery, admission: Admission, deadline: Date, now: number): Writes {
  const writes = noWrites();
  const at = new Date(now);
  switch (admission.kind) {
    case 'send': // a channel without a lane cannot be sent to
    case 'line':
    case 'wait':
      writes.park = [{ delivery: d, batchId: null, attempt: 1, dueAt: at, leasedUntil: null, expiresAt: deadline }];
      if (admission.kind === 'wait') writes.events = [ev.deferred(d, admission.reason, admission.until, at)];
      writes.parkedFor = { [admission.kind === 'wait' ? 'wait' : 'line']: 1 };
      break;
    case 'pull':
      writes.pull = [d];
      break;
    case 'fail':
      writes.events = failEvents(d, admission, 0, at);
      writes.finished = [d];
      break;
    default:
      assertNever(admission);
  }
  return writes;
}
