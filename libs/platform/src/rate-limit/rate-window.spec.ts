import { admit, estimate, OrgCounts, rollTo } from './rate-window';

const W = 1_800_000_000; // a window (seconds since the epoch)
const at = (s: number) => W * 1000 + Math.round(s * 1000);

describe('rate window', () => {
  it('lets `limit` requests through in a second and refuses the next, until the window has faded enough', () => {
    let c = rollTo(undefined, W);
    let allowed = 0;
    for (let i = 0; i < 150; i++) {
      if (admit(c, 100, at(0.5)).allowed) {
        c = { ...c, local: c.local + 1 };
        allowed++;
      }
    }
    expect(allowed).toBe(100);
    expect(admit(c, 100, at(0.9))).toEqual({ allowed: false, retryAfterS: 1 });
    // Next window: the last one's 100 fade with time, so a tenth in, only ~10 fit.
    c = rollTo(c, W + 1);
    expect(c).toMatchObject({ local: 0, localPrevious: 100 });
    expect(estimate(c, at(1.1))).toBeCloseTo(90);
    expect(admit({ ...c, local: 10 }, 100, at(1.1)).allowed).toBe(false);
    expect(admit({ ...c, local: 9 }, 100, at(1.1)).allowed).toBe(true);
    expect(admit({ ...c, local: 50 }, 100, at(1.6)).allowed).toBe(true);
  });

  it('counts the other instances as last read', () => {
    const c = { ...rollTo(undefined, W), local: 30, others: 70 };
    expect(admit(c, 100, at(0.2))).toMatchObject({ allowed: false });
    expect(admit({ ...c, others: 68 }, 100, at(0.2))).toEqual({ allowed: true });
  });

  it('forgets windows older than the previous one', () => {
    const old = { ...rollTo(undefined, W), local: 500, others: 500 };
    expect(rollTo(old, W + 2)).toEqual({ window: W + 2, local: 0, localPrevious: 0, others: 0, othersPrevious: 0 });
    expect(rollTo(old, W + 1)).toMatchObject({ localPrevious: 500, othersPrevious: 500 });
  });

  it('Retry-After is whole seconds, at least 1, and after it a request fits again', () => {
    for (const [local, prev, s] of [
      [100, 0, 0.01],
      [40, 100, 0.1],
      [100, 100, 0.99],
      [250, 0, 0.5],
    ] as const) {
      const c: OrgCounts = { ...rollTo(undefined, W), local, localPrevious: prev };
      const decision = admit(c, 100, at(s));
      expect(decision.allowed).toBe(false);
      if (decision.allowed) continue;
      expect(Number.isInteger(decision.retryAfterS) && decision.retryAfterS >= 1).toBe(true);
      // With no further requests, the time it named later (rolling windows as they pass) admits one.
      const later = at(s) + decision.retryAfterS * 1000;
      const laterWindow = Math.floor(later / 1000);
      let rolled = c;
      for (let w = W + 1; w <= laterWindow; w++) rolled = rollTo(rolled, w);
      expect(admit(rolled, 100, later).allowed).toBe(true);
    }
  });
});
