import type { AttemptOutcome } from '@waybill/contracts';
import { classify, countsAsBreakerFailure, Exchange } from './outcome';

/** The delivery rules of ARCHITECTURE.md, written out independently of the code under test. */
function expectedOutcome(status: number): AttemptOutcome {
  if (status === 202) return 'DISPATCHED';
  if (status >= 200 && status <= 299) return 'ACCEPTED';
  if (status === 400) return 'REJECTED';
  if (status === 429) return 'RETRYABLE';
  if (status >= 500 && status <= 599) return 'RETRYABLE';
  if (status >= 400 && status <= 499) return 'FAILED';
  if (status >= 300 && status <= 399) return 'FAILED';
  // 1xx never reaches classify as a final answer; whatever it is, it must not count as delivered.
  return 'FAILED';
}

const answered = (statusCode: number): Exchange => ({ kind: 'answered', statusCode });
const everyStatus = Array.from({ length: 500 }, (_, i) => 100 + i);

describe('classify: what a partner answer means for the transaction', () => {
  const range = (from: number, to: number) => everyStatus.filter((s) => s >= from && s <= to);
  const misclassified = (statuses: number[]) =>
    statuses
      .map((s) => ({ status: s, got: classify(answered(s)), want: expectedOutcome(s) }))
      .filter((r) => r.got !== r.want);

  it.each([
    ['1xx', 100, 199],
    ['2xx', 200, 299],
    ['3xx', 300, 399],
    ['4xx', 400, 499],
    ['5xx', 500, 599],
  ] as const)('every %s status is classified as the delivery rules table says', (_, from, to) => {
    expect(misclassified(range(from, to))).toEqual([]);
  });

  it.each([
    [200, 'ACCEPTED'],
    [201, 'ACCEPTED'],
    [204, 'ACCEPTED'],
    [299, 'ACCEPTED'],
    [202, 'DISPATCHED'],
    [400, 'REJECTED'],
    [401, 'FAILED'],
    [404, 'FAILED'],
    [409, 'FAILED'],
    [413, 'FAILED'],
    [422, 'FAILED'],
    [429, 'RETRYABLE'],
    [500, 'RETRYABLE'],
    [502, 'RETRYABLE'],
    [503, 'RETRYABLE'],
    [504, 'RETRYABLE'],
    [599, 'RETRYABLE'],
    [301, 'FAILED'],
    [302, 'FAILED'],
    [307, 'FAILED'],
    [308, 'FAILED'],
  ] as const)('a partner answering %i makes the attempt %s', (status, outcome) => {
    expect(classify(answered(status))).toBe(outcome);
  });

  it('only 202 leaves a transaction DISPATCHED', () => {
    expect(everyStatus.filter((s) => classify(answered(s)) === 'DISPATCHED')).toEqual([202]);
  });

  it('only 400 rejects a transaction', () => {
    expect(everyStatus.filter((s) => classify(answered(s)) === 'REJECTED')).toEqual([400]);
  });

  it('redirects are never followed: every 3xx fails the transaction', () => {
    for (let s = 300; s < 400; s++) expect(classify(answered(s))).toBe('FAILED');
  });

  it('no answer within the timeout is retryable', () => {
    expect(classify({ kind: 'timeout' })).toBe('RETRYABLE');
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EPIPE', 'UND_ERR_SOCKET', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED'])(
    'a connection error (%s) is retryable',
    (code) => {
      expect(classify({ kind: 'connection-error', code })).toBe('RETRYABLE');
    },
  );
});

describe('classify: requests that could not be sent', () => {
  it("a partner token endpoint that gives no token is retryable (the partner's side failed)", () => {
    expect(classify({ kind: 'token-error' })).toBe('RETRYABLE');
    expect(countsAsBreakerFailure({ kind: 'token-error' })).toBe(true);
  });

  it('a destination refused by the SSRF guard at connect time fails the transaction (the same address would be reached again) and does not trip the breaker', () => {
    expect(classify({ kind: 'refused' })).toBe('FAILED');
    expect(countsAsBreakerFailure({ kind: 'refused' })).toBe(false);
  });
});

describe('countsAsBreakerFailure: what trips a channel circuit', () => {
  it('of all status codes 100–599, exactly the 5xx count against the breaker', () => {
    expect(everyStatus.filter((s) => countsAsBreakerFailure(answered(s)))).toEqual(everyStatus.filter((s) => s >= 500));
  });

  it('a 429 slows the channel down but does not count as a breaker failure', () => {
    expect(classify(answered(429))).toBe('RETRYABLE');
    expect(countsAsBreakerFailure(answered(429))).toBe(false);
  });

  it('a timeout counts as a breaker failure', () => {
    expect(countsAsBreakerFailure({ kind: 'timeout' })).toBe(true);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ERR_TLS_CERT_ALTNAME_INVALID'])('a connection error (%s) counts as a breaker failure', (code) => {
    expect(countsAsBreakerFailure({ kind: 'connection-error', code })).toBe(true);
  });

  it('answers the partner gave on purpose (2xx, 3xx, 4xx) never trip the breaker', () => {
    for (let s = 200; s < 500; s++) expect(countsAsBreakerFailure(answered(s))).toBe(false);
  });
});
