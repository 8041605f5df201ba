import fc from 'fast-check';
import { admit, Admission, ChannelGate, NOT_THROTTLED, THROTTLE_CAP_MS, THROTTLE_MAX_MS, throttleAfter } from './admission';

const NOW = new Date('2030-01-01T12:00:00.000Z');
const at = (ms: number) => new Date(NOW.getTime() + ms);
const LATER = at(3_600_000);

/** A healthy push channel: closed circuit, nothing in flight, no line. */
function gate(over: Partial<ChannelGate> = {}): ChannelGate {
  return {
    channel: { type: 'HTTP', enabled: true, url: 'https://erp.acme.example/hook' },
    circuit: 'CLOSED',
    halfOpensAt: null,
    probeInFlight: false,
    throttledUntil: null,
    slow: false,
    backlog: false,
    ...over,
  };
}

describe('admit: what happens to a delivery for a channel now', () => {
  it('a healthy channel: send it now', () => {
    expect(admit(gate(), LATER, NOW)).toEqual({ kind: 'send' });
  });

  it('a deleted channel: FAILED, not an exhausted policy', () => {
    expect(admit(gate({ channel: null }), LATER, NOW)).toEqual({ kind: 'fail', reason: 'the channel no longer exists', exhausted: false });
  });

  it('a PULL channel: into its lease queue, whatever its circuit or state', () => {
    expect(admit(gate({ channel: { type: 'PULL', enabled: false, url: null }, circuit: 'OPEN' }), LATER, NOW)).toEqual({ kind: 'pull' });
  });

  it('a push channel without a URL: FAILED', () => {
    expect(admit(gate({ channel: { type: 'HTTP', enabled: true, url: null } }), LATER, NOW)).toMatchObject({ kind: 'fail', exhausted: false });
  });

  it("once the retry policy's time is up, waiting ends: FAILED, exhausted", () => {
    expect(admit(gate({ circuit: 'OPEN' }), NOW, NOW)).toMatchObject({ kind: 'fail', exhausted: true });
    expect(admit(gate(), at(-1), NOW)).toMatchObject({ kind: 'fail', exhausted: true });
  });

  it('a disabled channel holds its deliveries, announced, until it is enabled (no known end)', () => {
    expect(admit(gate({ channel: { type: 'HTTP', enabled: false, url: 'https://x.example' } }), LATER, NOW)).toEqual({
      kind: 'wait',
      reason: 'CHANNEL_DISABLED',
      until: null,
    });
  });

  it('an open circuit holds deliveries until it half-opens', () => {
    expect(admit(gate({ circuit: 'OPEN', halfOpensAt: at(30_000) }), LATER, NOW)).toEqual({ kind: 'wait', reason: 'CIRCUIT_OPEN', until: at(30_000) });
  });

  it('a half-open circuit lets one probe through: this delivery, or the head of the line when there is one', () => {
    expect(admit(gate({ circuit: 'HALF_OPEN' }), LATER, NOW)).toEqual({ kind: 'send' });
    expect(admit(gate({ circuit: 'HALF_OPEN', backlog: true }), LATER, NOW)).toEqual({ kind: 'line' });
    expect(admit(gate({ circuit: 'HALF_OPEN', probeInFlight: true }), LATER, NOW)).toEqual({ kind: 'wait', reason: 'CIRCUIT_OPEN', until: null });
  });

  it('a throttled channel (it answered 429) holds deliveries until the throttle ends', () => {
    expect(admit(gate({ throttledUntil: at(5_000) }), LATER, NOW)).toEqual({ kind: 'wait', reason: 'CHANNEL_BUSY', until: at(5_000) });
    expect(admit(gate({ throttledUntil: at(-1) }), LATER, NOW)).toEqual({ kind: 'send' });
  });

  it("a slow channel keeps new deliveries in the channel's own line (nothing announced)", () => {
    expect(admit(gate({ slow: true }), LATER, NOW)).toEqual({ kind: 'line' });
    expect(admit(gate({ slow: true, backlog: true }), LATER, NOW)).toEqual({ kind: 'line' });
  });

  it('a healthy channel with a line takes new deliveries at once (its line goes first as it has room)', () => {
    expect(admit(gate({ backlog: true }), LATER, NOW)).toEqual({ kind: 'send' });
  });

  it('for any gate: an attempt is sent only to a closed (or half-open, probe-free, line-free) enabled push channel, unthrottled and not slow', () => {
    const gates = fc.record({
      channel: fc.option(
        fc.record({ type: fc.constantFrom('HTTP' as const, 'PULL' as const), enabled: fc.boolean(), url: fc.option(fc.constant('https://x.example'), { nil: null }) }),
        { nil: null },
      ),
      circuit: fc.constantFrom('CLOSED' as const, 'OPEN' as const, 'HALF_OPEN' as const),
      halfOpensAt: fc.option(fc.integer({ min: 0, max: 60_000 }).map(at), { nil: null }),
      probeInFlight: fc.boolean(),
      throttledUntil: fc.option(fc.integer({ min: -60_000, max: 60_000 }).map(at), { nil: null }),
      slow: fc.boolean(),
      backlog: fc.boolean(),
    });
    fc.assert(
      fc.property(gates, fc.integer({ min: -1_000, max: 1_000 }).map(at), (g, deadline) => {
        const a: Admission = admit(g, deadline, NOW);
        if (a.kind === 'send') {
          expect(g.channel).toMatchObject({ type: 'HTTP', enabled: true });
          expect(g.channel?.url).not.toBeNull();
          expect(deadline.getTime()).toBeGreaterThan(NOW.getTime());
          expect(g.circuit === 'CLOSED' || (g.circuit === 'HALF_OPEN' && !g.probeInFlight && !g.backlog)).toBe(true);
          if (g.circuit === 'CLOSED') {
            expect(g.slow).toBe(false);
            expect(g.throttledUntil === null || g.throttledUntil <= NOW).toBe(true);
          }
        }
        if (a.kind === 'fail' && a.exhausted) expect(deadline.getTime()).toBeLessThanOrEqual(NOW.getTime());
      }),
    );
  });
});

describe('throttleAfter: a 429 slows the channel down', () => {
  const answer = (statusCode: number | null, retryAfterMs: number | null = null) => ({ statusCode, retryAfterMs });

  it("honours the partner's Retry-After", () => {
    expect(throttleAfter(NOT_THROTTLED, answer(429, 7_000), NOW)).toEqual({ consecutive: 1, until: at(7_000) });
  });

  it('without Retry-After, backs off from 1 s, doubling with each 429 in a row, up to a minute', () => {
    let t = NOT_THROTTLED;
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      t = throttleAfter(t, answer(429), NOW);
      waits.push((t.until as Date).getTime() - NOW.getTime());
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, THROTTLE_MAX_MS, THROTTLE_MAX_MS, THROTTLE_MAX_MS]);
  });

  it('caps an outrageous Retry-After', () => {
    expect(throttleAfter(NOT_THROTTLED, answer(429, 30 * 86_400_000), NOW).until).toEqual(at(THROTTLE_CAP_MS));
  });

  it('any other answer, or none, ends the slow-down', () => {
    const throttled = throttleAfter(NOT_THROTTLED, answer(429), NOW);
    expect(throttleAfter(throttled, answer(200), NOW)).toEqual(NOT_THROTTLED);
    expect(throttleAfter(throttled, answer(500), NOW)).toEqual(NOT_THROTTLED);
    expect(throttleAfter(throttled, answer(null), NOW)).toEqual(NOT_THROTTLED);
    expect(throttleAfter(NOT_THROTTLED, answer(200), NOW)).toBe(NOT_THROTTLED);
  });
});
