import type { AttemptOutcome } from '@waybill/contracts';

/** What came back from one attempt: a status code, or no answer at all. */
export type Exchange =
  | { kind: 'answered'; statusCode: number }
  | { kind: 'timeout' }
  | { kind: 'connection-error'; code: string }
  /** The partner's OAuth2 token endpoint gave no usable token: the request could not be sent. */
  | { kind: 'token-error' }
  /** The destination resolved to a refused address at connect time (SSRF guard, DNS rebinding). */
  | { kind: 'refused' };

/**
 * The delivery rules, as a table: 2xx but 202 ACCEPTED, 202 DISPATCHED, 400 REJECTED, 429 and 5xx
 * retryable, any other 4xx and every 3xx FAILED (redirects are never followed), no answer
 * (timeout, refused, reset, TLS) retryable, and so is a token endpoint that fails. A destination
 * the SSRF guard refuses at connect time is FAILED: trying again reaches the same address.
 */
export function classify(exchange: Exchange): AttemptOutcome {
  switch (exchange.kind) {
    case 'timeout':
    case 'connection-error':
    case 'token-error':
      return 'RETRYABLE';
    case 'refused':
      return 'FAILED';
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

/**
 * Whether an exchange counts against the channel's circuit breaker: 5xx, timeouts, connection
 * failures and a failing token endpoint do; a 429 does not (it slows the channel instead), nor does
 * any answer the partner gave on purpose, nor a destination Waybill itself refused.
 */
export function countsAsBreakerFailure(exchange: Exchange): boolean {
  switch (exchange.kind) {
    case 'answered':
      return exchange.statusCode >= 500 && exchange.statusCode < 600;
    case 'timeout':
    case 'connection-error':
    case 'token-error':
      return true;
    case 'refused':
      return false;
    default:
      return assertNever(exchange);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
