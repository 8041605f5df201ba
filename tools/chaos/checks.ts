import type { Arrival, Behaviour } from './receiver';

/** The behaviour of a pull channel (the run's driver leases and acknowledges). */
export type Kind = Behaviour | 'pull';

/** The final status a transaction must reach, by its partner's behaviour (the run accepts DISPATCHED ones by API). */
export const EXPECTED: Record<Kind, string> = {
  ok: 'ACCEPTED',
  dispatch: 'ACCEPTED',
  reject: 'REJECTED',
  flaky: 'ACCEPTED',
  hang: 'FAILED',
  batch: 'ACCEPTED',
  pull: 'ACCEPTED',
};

export const FINAL = new Set(['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED']);

export interface Verdict {
  /** Accepted (2xx) by Waybill but not in a final status at the end, or never seen by its push partner. */
  lost: string[];
  /** In a final status other than the one its partner's behaviour dictates. */
  wrongStatus: string[];
  /** Repeated (delivery id, attempt) pairs at the receiver: a retry is a new attempt, not a repeat. */
  duplicates: number;
}

/**
 * Checks every transaction Waybill accepted against what its partner dictates: its final status,
 * and (for push partners) that the receiver saw it at least once; and counts repeats.
 */
export function verdict(accepted: ReadonlyMap<string, Kind>, statuses: ReadonlyMap<string, string>, arrivals: readonly Arrival[]): Verdict {
  const seen = new Set(arrivals.map((a) => a.transactionId));
  const lost: string[] = [];
  const wrongStatus: string[] = [];
  for (const [id, kind] of accepted) {
    const status = statuses.get(id);
    if (!status || !FINAL.has(status) || (kind !== 'pull' && !seen.has(id))) lost.push(id);
    else if (status !== EXPECTED[kind]) wrongStatus.push(id);
  }
  const pairs = new Map<string, number>();
  for (const a of arrivals) {
    const pair = `${a.deliveryId}#${a.attempt}`;
    pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
  }
  const duplicates = [...pairs.values()].reduce((n, count) => n + count - 1, 0);
  return { lost, wrongStatus, duplicates };
}

/**
 * How long after each fault the delivery rate took to come back within 20% of its steady rate
 * (s), and stay there: the rate is what reached the partners — each transaction's first arrival —
 * over a sliding window of `windowMs`; recovered at the first moment from which every window of
 * the next `windowMs` (a step of 250 ms) is within 20% (a window half stall, half backlog
 * draining, can look steady on its own). A fault with no visible effect recovers at once (0);
 * null for a fault the run's end came before recovery.
 */
export function recoveries(firstArrivals: readonly number[], faults: readonly number[], steadyPerSec: number, endAt: number, windowMs = 3_000): (number | null)[] {
  const STEP = 250;
  const times = [...firstArrivals].sort((a, b) => a - b);
  const steadyAt = (t: number) => Math.abs((lowerBound(times, t + windowMs) - lowerBound(times, t)) * (1000 / windowMs) - steadyPerSec) <= 0.2 * steadyPerSec;
  return faults.map((at) => {
    for (let t = at; t + 2 * windowMs <= endAt; t += STEP) {
      let stays = true;
      for (let k = 0; k <= windowMs && stays; k += STEP) stays = steadyAt(t + k);
      if (stays) return (t - at) / 1000;
    }
    return null;
  });
}

function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
