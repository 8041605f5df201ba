import type { ChannelState } from '@waybill/contracts';
import { classify, countsAsBreakerFailure, nextRetry, parseRetryAfter, policyDeadline, RetryDecision, throttleAfter } from '@waybill/delivery';
import * as ev from '../delivery-events';
import type { AttemptResult } from '../ports';
import type { Plan, Work } from '../work';
import { noWrites } from './lane-protocol';
import type { LaneState, Step } from './lane-state';

/**
 * An attempt's answer: what it says about the channel (its recent outcomes, its pace, a 429's
 * slow-down, its circuit), and what it leads to for the work — its events, and its next attempt
 * when there is one — made durable by a commit (unless a hand-over of the work is still being
 * written: then that write's end commits it).
 */
export function answered(lane: LaneState, work: Work, result: AttemptResult, at: number, random: number, step: Step): void {
  const { now, channel } = step.world;
  const statusCode = result.exchange.kind === 'answered' ? result.exchange.statusCode : null;
  lane.record({ at: new Date(at).toISOString(), outcome: classify(result.exchange), statusCode, durationMs: result.durationMs, error: result.error });
  lane.throttle = throttleAfter(lane.throttle, { statusCode, retryAfterMs: parseRetryAfter(result.retryAfter, new Date(now)) }, new Date(now));
  lane.latencyMs = lane.latencyMs === 0 ? result.durationMs : 0.8 * lane.latencyMs + 0.2 * result.durationMs;
  if (result.exchange.kind === 'timeout') lane.slow = true;
  else if (result.durationMs < step.world.slowAfterMs) lane.slow = false; // answered within the bound: not slow
  const t = lane.breaker.answered(countsAsBreakerFailure(result.exchange), describe(result), now);
  if (t) lane.circuitChanged(step, t);
  work.state = 'settling';
  work.plan = plan(work, channel, result, at, now, random);
  if (work.stored !== 'writing') commit(lane, work, step);
}

/**
 * What an answer leads to: a `delivery.attempted` for each delivery — which, when the answer ends
 * the delivery, is its outcome (no terminal event beside it: one event per delivery) — and, when
 * it is retryable, the next attempt by the channel's policy, or FAILED with `delivery.exhausted`.
 */
export function plan(work: Work, channel: ChannelState | undefined, result: AttemptResult, at: number, nowMs: number, random: number): Plan {
  const now = new Date(nowMs);
  const outcome = classify(result.exchange);
  const statusCode = result.exchange.kind === 'answered' ? result.exchange.statusCode : null;
  const record = { attempt: work.attempt, at: new Date(at), statusCode, outcome, durationMs: result.durationMs, error: result.error, responseExcerpt: result.excerpt };
  const events = work.deliveries.map((d) => ev.attempted(d, record, now));
  if (outcome !== 'RETRYABLE') return { events, retry: null };
  const decision: RetryDecision = channel
    ? nextRetry(channel.retryPolicy, { attempt: work.attempt, firstAttemptAt: work.firstSeenAt, now, retryAfterMs: parseRetryAfter(result.retryAfter, now), random })
    : { retry: false, reason: 'the channel no longer exists' };
  const last = result.error ?? (statusCode !== null ? `HTTP ${statusCode}` : null);
  if (!decision.retry || !channel) {
    const reason = decision.retry ? 'the channel no longer exists' : decision.reason;
    events.push(...work.deliveries.flatMap((d) => ev.spent(d, `${reason}; last: ${last}`, work.attempt, last, now)));
    return { events, retry: null };
  }
  events.push(...work.deliveries.map((d) => ev.retryScheduled(d, work.attempt + 1, decision.dueAt, now)));
  return { events, retry: { attempt: work.attempt + 1, dueAt: decision.dueAt, expiresAt: policyDeadline(channel.retryPolicy, work.firstSeenAt) } };
}

/**
 * Makes an attempt's outcome durable: its events published, then its rows written — a work with
 * rows (taken from the line, or handed over mid-attempt) settles them (deleted, or back for the
 * retry); a work that came straight from the log parks its retry. A delivery that ends is noted
 * finished as its events go out, however it came. (A crash in between repeats the attempt: at
 * least once.)
 */
export function commit(lane: LaneState, work: Work, step: Step): void {
  const { events, retry } = work.plan as Plan;
  const writes = noWrites();
  writes.events = events;
  if (work.stored === true) {
    writes.settle = { ids: work.ids, retry };
    // Its message may still be read again (an offset not committed before a rebalance or a broker
    // restart); once its row is gone, only the note keeps it from being sent a second time.
    if (!retry) writes.finished = work.deliveries;
  } else if (retry) {
    writes.park = work.deliveries.map((d) => ({ delivery: d, batchId: work.batchId, attempt: retry.attempt, dueAt: retry.dueAt, leasedUntil: null, expiresAt: retry.expiresAt }));
    writes.parkedFor = { retry: work.deliveries.length };
  } else writes.finished = work.deliveries;
  if (retry) work.leaves = { count: work.deliveries.length, dueAt: retry.dueAt.getTime(), dueNow: false };
  step.fx.push({ kind: 'write', writes, then: { kind: 'committed', work }, frees: work });
}

/** The attempt's outcome is written: the work is done here, and what it left in the line is counted. */
export function committed(lane: LaneState, work: Work, step: Step): void {
  lane.inFlight.delete(work);
  if (work.leaves) {
    if (work.leaves.dueNow) lane.line.due += work.leaves.count;
    lane.noteParked(work.leaves.count, work.leaves.dueAt);
    work.leaves = null;
  }
  lane.finish(step, [work]);
}

/** Cut off by a shutdown: not an attempt. It stays held (and its rows leased, when it has some) until the stop gives them back. */
export function cut(lane: LaneState, work: Work): void {
  lane.inFlight.delete(work);
  if (work.probe) lane.breaker.probeLost();
  work.state = 'queued';
}

/** The attempt failed unexpectedly (not the partner's doing): its deliveries go back to the line. */
export function crashed(lane: LaneState, work: Work, step: Step): void {
  if (work.probe) lane.breaker.probeLost();
  work.state = 'settling';
  const writes = noWrites();
  if (!work.released || work.stored === true) {
    writes.park = lane.entries(work.deliveries, work.batchId, work.attempt, step);
    writes.parkedFor = { line: work.deliveries.length };
    work.leaves = { count: work.deliveries.length, dueAt: step.world.now, dueNow: true };
  }
  step.fx.push({ kind: 'write', writes, then: { kind: 'committed', work }, frees: work });
}

function describe(r: AttemptResult): string {
  return r.exchange.kind === 'answered' ? `HTTP ${r.exchange.statusCode}` : (r.error ?? r.exchange.kind);
}
