import type { RetryPolicyState } from '@waybill/contracts';

export type RetryDecision = { retry: true; dueAt: Date } | { retry: false; reason: string };

export interface RetryContext {
  /** Number of the attempt that just failed (1 for the first). */
  attempt: number;
  firstAttemptAt: Date;
  now: Date;
  /** The partner's `Retry-After`, in ms from now, when it sent one. */
  retryAfterMs: number | null;
  /** A number in [0, 1) for the exponential policy's jitter. */
  random: number;
}

/** The least time a fixed policy gives a delivery after its first attempt (ms): 1 h. */
export const MIN_FIXED_WAIT_MS = 3_600_000;

/**
 * When a delivery's time under `policy` runs out: for `fixed`, `maxRetries × delayMs` after the
 * first attempt, at least {@link MIN_FIXED_WAIT_MS}; for `exponential`, `maxDurationMs` after it.
 * A delivery that waits (circuit open, channel disabled or busy) without spending attempts still
 * ends FAILED then; a `Retry-After` is honoured up to then.
 */
export function policyDeadline(policy: RetryPolicyState, firstAttemptAt: Date): Date {
  switch (policy.strategy) {
    case 'fixed':
      return new Date(firstAttemptAt.getTime() + Math.max(policy.maxRetries * policy.delayMs, MIN_FIXED_WAIT_MS));
    case 'exponential':
      return new Date(firstAttemptAt.getTime() + policy.maxDurationMs);
    default:
      return assertNever(policy);
  }
}

/**
 * When to try again after a retryable failure, or that the policy is spent. `fixed`: `maxRetries`
 * retries `delayMs` apart. `exponential`: full-jitter backoff from `initialDelayMs` growing by
 * `factor` up to `maxDelayMs`, until `maxDurationMs` after the first attempt. A `Retry-After`
 * is honoured when it asks for more patience than the policy, within the policy's time
 * ({@link policyDeadline}): a fixed policy waits at most until then; an exponential one whose
 * next try would fall after it is spent.
 */
export function nextRetry(policy: RetryPolicyState, ctx: RetryContext): RetryDecision {
  switch (policy.strategy) {
    case 'fixed': {
      if (ctx.attempt > policy.maxRetries) return { retry: false, reason: `${policy.maxRetries} retries spent` };
      const deadline = policyDeadline(policy, ctx.firstAttemptAt).getTime();
      const asked = Math.min(ctx.retryAfterMs ?? 0, deadline - ctx.now.getTime());
      return { retry: true, dueAt: new Date(ctx.now.getTime() + Math.max(policy.delayMs, asked)) };
    }
    case 'exponential': {
      const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (ctx.attempt - 1));
      const jittered = Math.max(policy.initialDelayMs, Math.floor(ceiling * ctx.random));
      const wait = Math.max(jittered, ctx.retryAfterMs ?? 0);
      const dueAt = ctx.now.getTime() + wait;
      if (dueAt > policyDeadline(policy, ctx.firstAttemptAt).getTime()) {
        return { retry: false, reason: `retries spent after ${policy.maxDurationMs} ms` };
      }
      return { retry: true, dueAt: new Date(dueAt) };
    }
    default:
      return assertNever(policy);
  }
}

/**
 * The forms of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms recipients must still accept. Anything else is not a date, however `Date.parse` reads it
 * ("1.5" and "-1" are dates to it).
 */
const HTTP_DATE = [
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

/**
 * Parses `Retry-After` — delay-seconds (digits only) or an HTTP-date — into ms from `now`; null
 * when absent or not one of those forms.
 */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  const v = value?.trim();
  if (!v) return null;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!HTTP_DATE.some((form) => form.test(v))) return null;
  // asctime carries no zone: it is GMT.
  const at = Date.parse(/GMT$/.test(v) ? v : `${v} GMT`);
  return Number.isNaN(at) ? null : Math.max(0, at - now.getTime());
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
