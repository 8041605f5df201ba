/** Buckets of `GET /v1/stats/deliveries`, in ms. */
export const BUCKETS = { '1m': 60_000, '1h': 3_600_000 } as const;
export type Bucket = keyof typeof BUCKETS;

/** The most buckets one call answers: a day by the minute, a month (31 days) by the hour. */
export const MAX_BUCKETS: Record<Bucket, number> = { '1m': 1_440, '1h': 744 };

export interface StatsRange {
  /** The first bucket's start (inclusive), aligned to the bucket in UTC. */
  from: Date;
  /** The end (exclusive), aligned up to the bucket. */
  to: Date;
  buckets: number;
}

export type RangeResult = { ok: true; range: StatsRange } | { ok: false; path: 'from' | 'to'; message: string };

/**
 * The range a stats call covers: `to` defaults to now, `from` to the default span before it (an
 * hour by the minute, a day by the hour); both are aligned to whole buckets (from down, to up), and
 * the range must hold at least one bucket and at most `MAX_BUCKETS`. Pure: `now` comes in.
 */
export function statsRange(bucket: Bucket, now: Date, from?: string, to?: string): RangeResult {
  const size = BUCKETS[bucket];
  const end = to === undefined ? now.getTime() : Date.parse(to);
  const start = from === undefined ? end - (bucket === '1m' ? 3_600_000 : 86_400_000) : Date.parse(from);
  if (start >= end) return { ok: false, path: 'from', message: 'must be before `to`' };
  const alignedFrom = Math.floor(start / size) * size;
  const alignedTo = Math.ceil(end / size) * size;
  const buckets = (alignedTo - alignedFrom) / size;
  if (buckets > MAX_BUCKETS[bucket]) {
    return { ok: false, path: 'from', message: `at most ${MAX_BUCKETS[bucket]} buckets of ${bucket} in one call (${bucket === '1m' ? 'a day' : '31 days'})` };
  }
  return { ok: true, range: { from: new Date(alignedFrom), to: new Date(alignedTo), buckets } };
}
