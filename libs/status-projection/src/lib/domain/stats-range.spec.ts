import { statsRange } from './stats-range';

const NOW = new Date('2026-03-01T12:34:56.789Z');

describe('statsRange', () => {
  it('defaults to the last hour by the minute, aligned to whole minutes', () => {
    expect(statsRange('1m', NOW)).toEqual({
      ok: true,
      range: { from: new Date('2026-03-01T11:34:00.000Z'), to: new Date('2026-03-01T12:35:00.000Z'), buckets: 61 },
    });
  });

  it('defaults to the last day by the hour', () => {
    expect(statsRange('1h', NOW)).toEqual({
      ok: true,
      range: { from: new Date('2026-02-28T12:00:00.000Z'), to: new Date('2026-03-01T13:00:00.000Z'), buckets: 25 },
    });
  });

  it('takes an explicit range and aligns it outwards', () => {
    const r = statsRange('1h', NOW, '2026-01-01T00:30:00Z', '2026-01-01T02:00:00+01:00');
    expect(r).toEqual({ ok: true, range: { from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-01-01T01:00:00Z'), buckets: 1 } });
  });

  it('refuses an empty or reversed range', () => {
    expect(statsRange('1m', NOW, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')).toMatchObject({ ok: false, path: 'from' });
    expect(statsRange('1m', NOW, '2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z')).toMatchObject({ ok: false, path: 'from' });
  });

  it('allows a whole day by the minute and a month by the hour, no more', () => {
    expect(statsRange('1m', NOW, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')).toMatchObject({ ok: true, range: { buckets: 1440 } });
    expect(statsRange('1m', NOW, '2026-01-01T00:00:00Z', '2026-01-02T00:01:00Z')).toMatchObject({ ok: false, message: expect.stringMatching(/1440/) });
    expect(statsRange('1h', NOW, '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')).toMatchObject({ ok: true, range: { buckets: 744 } });
    expect(statsRange('1h', NOW, '2026-01-01T00:00:00Z', '2026-02-01T01:00:00Z')).toMatchObject({ ok: false });
  });
});
