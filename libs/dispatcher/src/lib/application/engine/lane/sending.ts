import type { ChannelState } from '@waybill/contracts';
import { admit, Admission, ChannelGate } from '@waybill/delivery';
import * as ev from '../delivery-events';
import type { Slot } from '../in-flight-budget';
import type { Delivery, Work } from '../work';
import { noWrites } from './lane-protocol';
import type { LaneState, Step } from './lane-state';

/** What `admit` is told of a channel: the channel itself, and the lane's circuit, throttle, pace and line. */
export function gateOf(lane: LaneState | null, channel: ChannelState | undefined, now: number): ChannelGate {
  return {
    channel: channel ? { type: channel.type, enabled: channel.enabled, url: channel.url } : null,
    circuit: lane?.breaker.state ?? 'CLOSED',
    halfOpensAt: lane?.breaker.halfOpensAt ?? null,
    probeInFlight: lane?.breaker.probeOut ?? false,
    throttledUntil: lane && lane.throttled(now) ? lane.throttle.until : null,
    slow: lane?.slow ?? false,
    backlog: (lane?.line.due ?? 0) > 0,
  };
}

/**
 * Starts what the queue holds, in order, as far as the channel's limit and the budget's room allow.
 * When the channel cannot take its queue now (open, disabled, throttled, slow, gone), the whole
 * queue is handed off: to the parked line, the pull queue, or its end.
 */
export function pump(lane: LaneState, step: Step): void {
  const { world } = step;
  while (lane.queue.length > 0 && !world.closing) {
    const head = lane.queue[0];
    const gate = gateOf(lane, world.channel, world.now);
    const deadline = lane.deadline(world.channel, head.firstSeenAt, world.now);
    // Works taken from the line are the line: only the channel's own state can hold them.
    const admission = admit(head.stored === true ? { ...gate, backlog: false, slow: false } : gate, deadline, new Date(world.now));
    if (admission.kind !== 'send') {
      handOff(lane, lane.queue.splice(0), admission, step);
      return;
    }
    if (lane.running >= lane.limit(world.channel)) return;
    const pool: Slot = lane.slow ? 'slow' : 'normal';
    if (step.room[pool] <= 0) {
      step.fx.push({ kind: 'awaitRoom' });
      return;
    }
    step.room[pool]--;
    lane.queue.shift();
    launch(lane, head, pool, step);
  }
}

function launch(lane: LaneState, work: Work, pool: Slot, step: Step): void {
  const { now } = step.world;
  work.state = 'running';
  work.startedAt = now;
  work.slot = pool;
  work.probe = lane.breaker.state === 'HALF_OPEN';
  lane.breaker.fired(now);
  lane.inFlight.add(work);
  lane.lastUsedAt = now;
  step.fx.push({ kind: 'launch', work });
}

/**
 * Works that will not go now: to the pull queue (the channel turned PULL), ended FAILED (the
 * channel is gone, or their time ran out), or into the parked line — announced with
 * `delivery.deferred` when they wait for the channel (open, disabled, throttled).
 */
export function handOff(lane: LaneState, works: Work[], admission: Admission, step: Step): void {
  if (works.length === 0) return;
  const now = new Date(step.world.now);
  const deliveries = works.flatMap((w) => w.deliveries);
  const stored = works.filter((w) => w.stored === true).flatMap((w) => w.ids);
  const writes = noWrites();
  let parked = 0;
  switch (admission.kind) {
    case 'pull':
      writes.pull = deliveries;
      break;
    case 'fail':
      writes.events = works.flatMap((w) => w.deliveries.flatMap((d) => failEvents(d, admission, w.attempt - 1, now)));
      break;
    case 'send':
    case 'line':
    case 'wait':
      if (admission.kind === 'wait') writes.events = deliveries.map((d) => ev.deferred(d, admission.reason, admission.until, now));
      writes.park = works.flatMap((w) => lane.entries(w.deliveries, w.batchId, w.attempt, step));
      writes.parkedFor = { [admission.kind === 'wait' ? 'wait' : 'line']: deliveries.length };
      parked = deliveries.length;
      break;
    default:
      assertNever(admission);
  }
  if (parked === 0 && stored.length > 0) writes.settle = { ids: stored, retry: null };
  for (const w of works) w.state = 'settling';
  step.fx.push({ kind: 'write', writes, then: { kind: 'handedOff', works, parked }, frees: null });
}

/** The events of a delivery that ends without (another) attempt. */
export function failEvents(d: Delivery, admission: Extract<Admission, { kind: 'fail' }>, attempts: number, now: Date) {
  return admission.exhausted ? ev.spent(d, admission.reason, attempts, null, now) : [ev.failed(d, admission.reason, now)];
}

export function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
