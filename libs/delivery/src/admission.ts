/**
 * What the dispatcher does with a delivery for a channel at a given moment — send it now, let it
 * wait without spending an attempt, put it in the pull queue, or end it — and how a 429 slows a
 * channel down. Pure rules: the channel's state and the time come in as values.
 */

/** A channel's circuit, as its breaker reports it. */
export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** Why a delivery waits without spending an attempt (the reasons of `delivery.deferred.v1`). */
export type WaitReason = 'CIRCUIT_OPEN' | 'CHANNEL_DISABLED' | 'CHANNEL_BUSY';

/** What the dispatcher knows of a channel when a delivery for it comes up. */
export interface ChannelGate {
  /** The channel as the replica holds it now; null once it was deleted. */
  channel: { type: 'HTTP' | 'PULL'; enabled: boolean; url: string | null } | null;
  circuit: CircuitState;
  /** When an OPEN circuit lets its next probe through. */
  halfOpensAt: Date | null;
  /** A HALF_OPEN circuit lets one probe through; while it runs, the others wait. */
  probeInFlight: boolean;
  /** A partner that answered 429 is left alone until then. */
  throttledUntil: Date | null;
  /** Attempts to the channel take long (far longer than other channels', or timing out). */
  slow: boolean;
  /** Deliveries of the channel wait in its parked line, due now (a half-open circuit's probe is their head). */
  backlog: boolean;
}

export type Admission =
  /** Attempt it now. */
  | { kind: 'send' }
  /** A pull channel: into its lease queue. */
  | { kind: 'pull' }
  /** Join the channel's own parked line (taken in order as the channel has room); nothing to announce. */
  | { kind: 'line' }
  /** Wait without spending an attempt, announced with `delivery.deferred` (until: when it is expected to go). */
  | { kind: 'wait'; reason: WaitReason; until: Date | null }
  /** End it FAILED; `exhausted` when its retry policy's time ran out (a `delivery.exhausted` alert). */
  | { kind: 'fail'; reason: string; exhausted: boolean };

/**
 * Decides what happens to a delivery whose policy's time ends at `deadline` (see `policyDeadline`).
 * The order matters: a channel that is gone or cannot take pushes ends the delivery; one whose time
 * is up fails it; then disabled, open, throttled — each makes it wait; a slow channel keeps it in
 * the channel's own line so that it never holds the others up. A healthy channel takes it now,
 * line or not (what its line holds goes first as the channel has room).
 */
export function admit(gate: ChannelGate, deadline: Date, now: Date): Admission {
  const { channel } = gate;
  if (!channel) return { kind: 'fail', reason: 'the channel no longer exists', exhausted: false };
  if (channel.type === 'PULL') return { kind: 'pull' };
  if (!channel.url) return { kind: 'fail', reason: 'the channel has no URL', exhausted: false };
  if (now.getTime() >= deadline.getTime()) {
    return { kind: 'fail', reason: "the retry policy's time ran out while the delivery waited", exhausted: true };
  }
  if (!channel.enabled) return { kind: 'wait', reason: 'CHANNEL_DISABLED', until: null };
  switch (gate.circuit) {
    case 'OPEN':
      return { kind: 'wait', reason: 'CIRCUIT_OPEN', until: gate.halfOpensAt };
    case 'HALF_OPEN':
      if (gate.probeInFlight) return { kind: 'wait', reason: 'CIRCUIT_OPEN', until: null };
      // The probe: the head of the channel's line when it has one, else this delivery.
      return gate.backlog ? { kind: 'line' } : { kind: 'send' };
    case 'CLOSED':
      break;
    default:
      return assertNever(gate.circuit);
  }
  if (gate.throttledUntil && gate.throttledUntil.getTime() > now.getTime()) {
    return { kind: 'wait', reason: 'CHANNEL_BUSY', until: gate.throttledUntil };
  }
  if (gate.slow) return { kind: 'line' };
  return { kind: 'send' };
}

/** How long a channel is left alone after a 429 without `Retry-After`: 1 s, doubling, at most 1 min. */
export const THROTTLE_BASE_MS = 1_000;
export const THROTTLE_MAX_MS = 60_000;
/** A `Retry-After` asking for more than this is capped (the delivery's own retry still honours it). */
export const THROTTLE_CAP_MS = 3_600_000;

export interface Throttle {
  /** 429s in a row, without an answer of another kind between them. */
  consecutive: number;
  until: Date | null;
}

export const NOT_THROTTLED: Throttle = { consecutive: 0, until: null };

/**
 * A 429 slows the channel down instead of counting against its breaker: nothing more is sent to it
 * until `Retry-After` (or a backoff doubling with each 429 in a row) has passed; any other answer
 * ends the slow-down.
 */
export function throttleAfter(throttle: Throttle, answer: { statusCode: number | null; retryAfterMs: number | null }, now: Date): Throttle {
  if (answer.statusCode !== 429) return throttle.consecutive === 0 && throttle.until === null ? throttle : NOT_THROTTLED;
  const backoff = Math.min(THROTTLE_MAX_MS, THROTTLE_BASE_MS * 2 ** throttle.consecutive);
  const wait = Math.min(THROTTLE_CAP_MS, answer.retryAfterMs ?? backoff);
  return { consecutive: throttle.consecutive + 1, until: new Date(now.getTime() + wait) };
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
