import fc from 'fast-check';
import type { RetryPolicyState } from '@waybill/contracts';
import { MIN_FIXED_WAIT_MS, nextRetry, policyDeadline } from './retry-policy';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe("policyDeadline: when a delivery's time under its retry policy runs out", () => {
  it('fixed: maxRetries × delayMs after the first attempt', () => {
    expect(policyDeadline({ strategy: 'fixed', maxRetries: 10, delayMs: 30 * MINUTE }, T0)).toEqual(new Date(T0.getTime() + 5 * HOUR));
  });

  it('fixed: at least 1 h (the default policy waits an hour for an open circuit, not 90 s)', () => {
    expect(policyDeadline({ strategy: 'fixed', maxRetries: 3, delayMs: 30_000 }, T0)).toEqual(new Date(T0.getTime() + MIN_FIXED_WAIT_MS));
    expect(policyDeadline({ strategy: 'fixed', maxRetries: 0, delayMs: 100 }, T0)).toEqual(new Date(T0.getTime() + HOUR));
  });

  it('exponential: maxDurationMs after the first attempt', () => {
    expect(policyDeadline({ strategy: 'exponential', initialDelayMs: 1_000, factor: 2, maxDelayMs: MINUTE, maxDurationMs: 2 * HOUR }, T0)).toEqual(
      new Date(T0.getTime() + 2 * HOUR),
    );
  });

  it('for any policy, no retry is ever scheduled after it (a Retry-After included)', () => {
    const policies: fc.Arbitrary<RetryPolicyState> = fc.oneof(
      fc.record({ strategy: fc.constant('fixed' as const), maxRetries: fc.integer({ min: 0, max: 20 }), delayMs: fc.integer({ min: 100, max: 86_400_000 }) }),
      fc.record({
        strategy: fc.constant('exponential' as const),
        initialDelayMs: fc.integer({ min: 100, max: 86_400_000 }),
        factor: fc.double({ min: 1, max: 10, noNaN: true }),
        maxDelayMs: fc.integer({ min: 100, max: 86_400_000 }),
        maxDurationMs: fc.integer({ min: 1_000, max: 30 * 86_400_000 }),
      }),
    );
    fc.assert(
      fc.property(
        policies,
        fc.integer({ min: 1, max: 20 }),
        fc.option(fc.integer({ min: 0, max: 40 * 86_400_000 }), { nil: null }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (policy, attempt, retryAfterMs, random) => {
          const deadline = policyDeadline(policy, T0).getTime();
          // The attempt failed well inside the policy's time, so that a normal retry fits.
          const now = new Date(T0.getTime() + Math.floor((deadline - T0.getTime()) / 100));
          const decision = nextRetry(policy, { attempt, firstAttemptAt: T0, now, retryAfterMs, random });
          if (decision.retry && retryAfterMs !== null && retryAfterMs > 0) {
            const normal = nextRetry(policy, { attempt, firstAttemptAt: T0, now, retryAfterMs: null, random });
            if (normal.retry) expect(decision.dueAt.getTime()).toBeLessThanOrEqual(Math.max(deadline, normal.dueAt.getTime()));
          }
          if (decision.retry && policy.strategy === 'exponential') expect(decision.dueAt.getTime()).toBeLessThanOrEqual(deadline);
        },
      ),
    );
  });
});
