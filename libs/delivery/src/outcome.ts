import type { AttemptOutcome } from '@waybill/contracts';

/** What came back from one attempt: a status code, or no answer at all. */
export type Exchange =
  | { kind: 'answered'; statusCode: number }
  | { kind: 'timeout' }
  | { kind: 'connection-error'; code: string };

/**
 * The delivery rules, as a table: 2xx but 202 ACCEPTED, 202 DISPATCHED, 400 REJECTED, 429 and 5xx
 * retryable, any other 4xx and every 3xx FAILED (redirects are never followed), no answer
 * (timeout, refused, reset, TLS) retryable.
 */
export function classify(exchange: Exchange): AttemptOutcome {
  switch (exchange.kind) {
    case 'timeout':
    case 'connection-error':
      return 'RETRYABLE';
    case 'answered': {
      const s = exchange.statusCode;
      if (s === 202) return 'DISPATCHED';
      if (s >= 200 && s < 300) return 'ACCEPTED';
      if (s === 400) return 'REJECTED';
      if (s === 429 || (s >= 500 && s < 600)) return 'RETRYABLE';
      return 'FAILED';
    }
    default:
      return assertNever(exchange);
  }
}

/** Whether an exchange counts against the channel's circuit breaker (a 429 slows, it does not break). */
export function countsAsBreakerFailure(exchange: Exchange): boolean {
  return exchange.kind !== 'answered' || (exchange.statusCode >= 500 && exchange.statusCode < 600);
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
