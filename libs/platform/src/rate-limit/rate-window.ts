/**
 * The per-organisation rate limit's rule, pure: a sliding window of one second estimated from two
 * fixed one-second windows (the current and the previous), counted by this process (`local`) and
 * by every other instance of the deployment (`others`, as last read from the shared table).
 *
 * The estimate of the last second is `previous × (1 − elapsed) + current`, where `elapsed` is the
 * fraction of the current window gone by: a burst at a window's end is still counted at the start
 * of the next (a fixed window would let twice the limit through across the boundary).
 */

/** One organisation's counts in the current window (`window`, in whole seconds since the epoch) and the one before. */
export interface OrgCounts {
  window: number;
  local: number;
  localPrevious: number;
  /** Sum of the other instances' counts, as last read. */
  others: number;
  othersPrevious: number;
}

export type Admission = { allowed: true } | { allowed: false; retryAfterS: number };

/** Counts of a window that has just begun (carrying the current window into "previous" when it is the next one). */
export function rollTo(counts: OrgCounts | undefined, window: number): OrgCounts {
  if (!counts) return { window, local: 0, localPrevious: 0, others: 0, othersPrevious: 0 };
  if (counts.window === window) return counts;
  const next = counts.window === window - 1;
  return {
    window,
    local: 0,
    localPrevious: next ? counts.local : 0,
    others: 0,
    othersPrevious: next ? counts.others : 0,
  };
}

/** Requests of the last second, as the two windows estimate them, at `nowMs`. */
export function estimate(counts: OrgCounts, nowMs: number): number {
  const elapsed = Math.min(1, Math.max(0, (nowMs - counts.window * 1000) / 1000));
  return (counts.localPrevious + counts.othersPrevious) * (1 - elapsed) + counts.local + counts.others;
}

/**
 * Whether one more request fits under `limit` (requests per second) at `nowMs`; when it does not,
 * how many whole seconds (at least 1) until it should: the time for the previous window's share to
 * fade enough, or, when the current window alone is full, until the next one begins.
 */
export function admit(counts: OrgCounts, limit: number, nowMs: number): Admission {
  // The tolerance keeps float rounding of the fading share (0.9 × 100 = 90.00000000000001) from refusing.
  if (estimate(counts, nowMs) + 1 <= limit + 1e-6) return { allowed: true };
  const current = counts.local + counts.others;
  const previous = counts.localPrevious + counts.othersPrevious;
  const windowEndMs = (counts.window + 1) * 1000;
  let waitMs: number;
  if (current + 1 > limit || previous === 0) {
    // Full on its own: next window, where this one's count becomes the fading "previous".
    const nextElapsedNeeded = current > 0 ? Math.max(0, 1 - (limit - 1) / current) : 0;
    waitMs = windowEndMs - nowMs + nextElapsedNeeded * 1000;
  } else {
    // previous × (1 − e) + current + 1 ≤ limit  ⇔  e ≥ 1 − (limit − current − 1) / previous
    const elapsedNeeded = 1 - (limit - current - 1) / previous;
    waitMs = counts.window * 1000 + elapsedNeeded * 1000 - nowMs;
  }
  return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
}
