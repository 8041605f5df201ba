import fc from 'fast-check';
import type { RetryPolicyState } from '@waybill/contracts';
import { MIN_FIXED_WAIT_MS, nextRetry, parseRetryAfter, RetryContext, RetryDecision } from './retry-policy';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const at = (ms: number) => new Date(T0.getTime() + ms);

function ctx(over: Partial<RetryContext> = {}): RetryContext {
  return { attempt: 1, firstAttemptAt: T0, now: T0, retryAfterMs: null, random: 0.5, ...over };
}

/** The wait a retry decision asks for, in ms from `now`; fails the test when the policy gave up. */
function waitOf(decision: RetryDecision, now: Date): number {
  if (!decision.retry) throw new Error(`expected a retry, the policy gave up: ${decision.reason}`);
  return decision.dueAt.getTime() - now.getTime();
}

describe('nextRetry, fixed policy', () => {
  const fixed = (maxRetries: number, delayMs: number): RetryPolicyState => ({ strategy: 'fixed', maxRetries, delayMs });
  const DEFAULT = fixed(3, 30 * SECOND);

  it('the default policy retries 3 times, 30 s apart, then gives up (4 requests in all)', () => {
    const requests: number[] = [];
    let now = T0;
    for (let attempt = 1; ; attempt++) {
      requests.push(now.getTime() - T0.getTime());
      const decision = nextRetry(DEFAULT, ctx({ attempt, now }));
      if (!decision.retry) break;
      now = decision.dueAt;
    }
    expect(requests).toEqual([0, 30 * SECOND, 60 * SECOND, 90 * SECOND]);
  });

  it('gives up after the last retry, with a reason', () => {
    const decision = nextRetry(DEFAULT, ctx({ attempt: 4, now: at(90 * SECOND) }));
    expect(decision).toEqual({ retry: false, reason: expect.stringMatching(/3 retries/) });
  });

  it('maxRetries 0 makes the first failure final', () => {
    expect(nextRetry(fixed(0, 30 * SECOND), ctx({ attempt: 1 })).retry).toBe(false);
  });

  it('for any maxRetries (0–20) and delayMs (100 ms–1 day): exactly maxRetries retries, each delayMs after the failure before it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 100, max: DAY }), fc.integer({ min: 0, max: 120_000 }), (maxRetries, delayMs, durationMs) => {
        const policy = fixed(maxRetries, delayMs);
        let retries = 0;
        let now = T0;
        for (let attempt = 1; attempt <= 50; attempt++) {
          const failedAt = new Date(now.getTime() + durationMs); // the attempt took durationMs to fail
          const decision = nextRetry(policy, ctx({ attempt, now: failedAt }));
          if (!decision.retry) break;
          expect(waitOf(decision, failedAt)).toBe(delayMs);
          retries++;
          now = decision.dueAt;
        }
        expect(retries).toBe(maxRetries);
      }),
    );
  });

  it('a Retry-After shorter than the delay changes nothing', () => {
    expect(waitOf(nextRetry(DEFAULT, ctx({ retryAfterMs: 5 * SECOND })), T0)).toBe(30 * SECOND);
  });

  it('a Retry-After longer than the delay is honoured', () => {
    expect(waitOf(nextRetry(DEFAULT, ctx({ retryAfterMs: 2 * MINUTE })), T0)).toBe(2 * MINUTE);
  });

  it("a Retry-After well inside the fixed policy's time (maxRetries × delayMs after the first attempt, at least 1 h) is honoured in full", () => {
    // Default policy: its time is max(3 × 30 s, 1 h) = 1 h. The partner asks for 10 minutes.
    expect(MIN_FIXED_WAIT_MS).toBe(HOUR);
    expect(waitOf(nextRetry(DEFAULT, ctx({ retryAfterMs: 10 * MINUTE })), T0)).toBe(10 * MINUTE);
  });

  it("for any fixed policy and Retry-After: never sooner than delayMs, the partner's wait honoured up to the policy's time, never pushed past it", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 100, max: DAY }),
        fc.nat(),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.option(fc.integer({ min: 0, max: 40 * DAY }), { nil: null }),
        (maxRetries, delayMs, attemptSeed, progress, retryAfterMs) => {
          const policy = fixed(maxRetries, delayMs);
          const deadline = T0.getTime() + Math.max(maxRetries * delayMs, HOUR);
          const attempt = 1 + (attemptSeed % maxRetries);
          const now = new Date(T0.getTime() + Math.floor(progress * (deadline - T0.getTime())));
          const wait = waitOf(nextRetry(policy, ctx({ attempt, now, retryAfterMs })), now);
          expect(wait).toBeGreaterThanOrEqual(delayMs);
          if (retryAfterMs !== null && now.getTime() + retryAfterMs <= deadline) expect(wait).toBeGreaterThanOrEqual(retryAfterMs);
          if (wait > delayMs) expect(now.getTime() + wait).toBeLessThanOrEqual(deadline);
        },
      ),
    );
  });

  it('a Retry-After does not give a spent policy another retry', () => {
    expect(nextRetry(DEFAULT, ctx({ attempt: 4, retryAfterMs: 1 * SECOND })).retry).toBe(false);
  });
});

describe('nextRetry, exponential policy', () => {
  const exponential = (initialDelayMs: number, factor: number, maxDelayMs: number, maxDurationMs: number): RetryPolicyState => ({
    strategy: 'exponential',
    initialDelayMs,
    factor,
    maxDelayMs,
    maxDurationMs,
  });
  const POLICY = exponential(1 * SECOND, 2, 1 * MINUTE, 1 * DAY);

  const policies = fc
    .record({
      initialDelayMs: fc.integer({ min: 100, max: DAY }),
      factor: fc.double({ min: 1, max: 10, noNaN: true }),
      capOver: fc.integer({ min: 0, max: DAY }),
      maxDurationMs: fc.integer({ min: 1_000, max: 30 * DAY }),
    })
    .map(({ initialDelayMs, factor, capOver, maxDurationMs }) => exponential(initialDelayMs, factor, initialDelayMs + capOver, maxDurationMs));

  it('for any policy, attempt and jitter, the delay is within [initialDelayMs, min(maxDelayMs, initialDelayMs × factor^(attempt-1))]', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (policy, attempt, random) => {
        if (policy.strategy !== 'exponential') throw new Error('unreachable');
        const forever = { ...policy, maxDurationMs: Number.MAX_SAFE_INTEGER / 4 };
        const decision = nextRetry(forever, ctx({ attempt, random }));
        const wait = waitOf(decision, T0);
        const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
        expect(wait).toBeGreaterThanOrEqual(policy.initialDelayMs);
        expect(wait).toBeLessThanOrEqual(ceiling);
      }),
    );
  });

  it('for any policy and history, a retry is never scheduled past firstAttemptAt + maxDurationMs', () => {
    fc.assert(
      fc.property(
        policies,
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 31 * DAY }),
        fc.option(fc.integer({ min: 0, max: 31 * DAY }), { nil: null }),
        (policy, attempt, random, elapsed, retryAfterMs) => {
          if (policy.strategy !== 'exponential') throw new Error('unreachable');
          const decision = nextRetry(policy, ctx({ attempt, random, now: at(elapsed), retryAfterMs }));
          if (decision.retry) expect(decision.dueAt.getTime()).toBeLessThanOrEqual(T0.getTime() + policy.maxDurationMs);
          else expect(decision.reason).toMatch(/\S/);
          // Whatever the jitter, a policy whose time is up cannot retry.
          if (elapsed + policy.initialDelayMs > policy.maxDurationMs) expect(decision.retry).toBe(false);
        },
      ),
    );
  });

  it('the delay ceiling doubles with each attempt (factor 2) until the cap', () => {
    const almostOne = 1 - Number.EPSILON;
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((attempt) => waitOf(nextRetry(POLICY, ctx({ attempt, random: almostOne })), T0));
    expect(ceilings).toEqual([1_000, 1_999, 3_999, 7_999, 15_999, 31_999, 59_999, 59_999, 59_999]);
  });

  it('no jitter (random 0) waits the initial delay', () => {
    expect(waitOf(nextRetry(POLICY, ctx({ attempt: 5, random: 0 })), T0)).toBe(1 * SECOND);
  });

  it('a Retry-After longer than the backoff is honoured, even past maxDelayMs, within maxDurationMs', () => {
    expect(waitOf(nextRetry(POLICY, ctx({ attempt: 1, retryAfterMs: 10 * MINUTE })), T0)).toBe(10 * MINUTE);
  });

  it('a Retry-After shorter than the backoff changes nothing', () => {
    expect(waitOf(nextRetry(POLICY, ctx({ attempt: 1, random: 0, retryAfterMs: 10 })), T0)).toBe(1 * SECOND);
  });

  it('a Retry-After that reaches past maxDurationMs ends the delivery (FAILED), with a reason', () => {
    const decision = nextRetry(POLICY, ctx({ attempt: 3, now: at(23 * HOUR), retryAfterMs: 2 * HOUR }));
    expect(decision).toEqual({ retry: false, reason: expect.stringContaining(String(DAY)) });
  });

  it('once maxDurationMs has passed since the first attempt, the policy is spent', () => {
    expect(nextRetry(POLICY, ctx({ attempt: 2, now: at(DAY + 1) })).retry).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2030-01-01T12:00:00.000Z');

  it.each([
    ['0', 0],
    ['1', 1_000],
    ['120', 120_000],
    [' 120 ', 120_000],
    ['86400', 86_400_000],
  ])('delay-seconds %j is %i ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it('an HTTP date is the time from now until then', () => {
    expect(parseRetryAfter('Tue, 01 Jan 2030 12:01:30 GMT', now)).toBe(90_000);
  });

  it('an HTTP date already past means no wait', () => {
    expect(parseRetryAfter('Tue, 01 Jan 2030 11:00:00 GMT', now)).toBe(0);
  });

  it.each([null, ''])('no header (%j) is null', (value) => {
    expect(parseRetryAfter(value, now)).toBeNull();
  });

  it.each([
    ['Tuesday, 01-Jan-30 12:01:30 GMT', 90_000],
    ['Tue Jan  1 12:01:30 2030', 90_000],
  ])('the obsolete HTTP-date form %j is read too', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each(['soon', 'abc', '12abc', '0x10', '1e3', '   ', 'Infinity', 'NaN', '1.5', '-1', '+5', '2030-01-01T12:01:30Z', 'Jan 1 2030'])('an unreadable value %j is null', (value) => {
    expect(parseRetryAfter(value, now)).toBeNull();
  });

  it('whatever the header holds, the answer is null or a wait of zero or more ms', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\s*\d{1,12}\s*$/), fc.date({ noInvalidDate: true }).map((d) => d.toUTCString())), (value) => {
        const ms = parseRetryAfter(value, now);
        expect(ms === null || ms >= 0).toBe(true);
      }),
    );
  });
});
