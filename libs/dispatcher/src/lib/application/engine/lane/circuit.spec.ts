import type { Effect } from './lane-protocol';
import {
  advance, answered, arrive, claimedRows, eventsOf, Happening, kinds, laneSpec, launchedIds, ofKind, reported, row, T0, timer, timersOf, typesOf,
} from '../../../../__fixtures__/lane-spec';

const breaker = { circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 30_000 } };
/** Four requests out and failed: the circuit opens (volume 4, more than 50 % failed). */
const opened: Happening[] = [...arrive(1, 2, 3, 4), answered(500), answered(500), answered(500), answered(500), reported()];
const circuitsOf = (fx: Effect[]) => ofKind(fx, 'circuit').map((e) => e.transition.to);

/** The lane and its channel's circuit breaker: what waits, what probes, what the alerts say. */
describe('ChannelLane: the circuit', () => {
  it('enough failures open the circuit: its alert says why, and a timer is set for when it half-opens', () => {
    laneSpec(breaker)
      .given(...arrive(1, 2, 3, 4))
      .when(answered(500), answered(500), answered(500), answered(500))
      .then(({ effects, lane }) => {
        expect(circuitsOf(effects)).toEqual(['OPEN']);
        const [alert] = eventsOf(effects).filter((e) => e.type === 'channel.circuit-opened.v1');
        expect(alert.data).toMatchObject({ channelId: 'ch_1', reason: expect.stringMatching(/^3 of 4 requests failed within 10 s \(threshold 50%\); last: HTTP 500$/) });
        expect(timersOf(effects)).toContainEqual(['halfOpen', 30_000]);
        expect(lane.health(T0)).toMatchObject({ circuit: 'OPEN', nextProbeAt: new Date(T0 + 30_000).toISOString() });
      });
  });

  it('while open, what arrives waits in the line without spending an attempt, announced CIRCUIT_OPEN until it half-opens', () => {
    laneSpec(breaker)
      .given(...opened)
      .when(...arrive(9))
      .then(({ effects }) => {
        expect(launchedIds(effects)).toEqual([]);
        expect(eventsOf(effects)).toEqual([{ type: 'delivery.deferred.v1', data: expect.objectContaining({ deliveryId: 'dl_9', reason: 'CIRCUIT_OPEN', until: new Date(T0 + 30_000).toISOString() }) }]);
      });
  });

  it('while open, its line is not taken', () => {
    laneSpec(breaker)
      .given(...opened, ...arrive(9))
      .when(reported())
      .then(({ effects, lane }) => {
        expect(lane.line.due).toBe(1);
        expect(kinds(effects)).not.toContain('claim');
      });
  });

  it('after resetTimeoutMs it half-opens (no alert), and the head of its line is the one probe', () => {
    laneSpec(breaker)
      .given(...opened, ...arrive(9), reported())
      .when(advance(30_000), timer('halfOpen'))
      .then(({ effects, lane }) => {
        expect(circuitsOf(effects)).toEqual(['HALF_OPEN']);
        expect(eventsOf(effects)).toEqual([]);
        expect(ofKind(effects, 'claim')).toEqual([expect.objectContaining({ count: 1 })]);
        expect(lane.breaker.state).toBe('HALF_OPEN');
      });
  });

  it('half-open with nothing in its line, the next delivery is the probe; while it is out the others wait', () => {
    laneSpec(breaker)
      .given(...opened, advance(30_000), timer('halfOpen'))
      .when(...arrive(9, 10))
      .then(({ effects }) => {
        expect(launchedIds(effects)).toEqual(['dl_9']);
        expect(ofKind(effects, 'launch')[0].work.probe).toBe(true);
        expect(eventsOf(effects)).toEqual([{ type: 'delivery.deferred.v1', data: expect.objectContaining({ deliveryId: 'dl_10', reason: 'CIRCUIT_OPEN', until: null }) }]);
      });
  });

  it("the probe's success closes the circuit, with its alert, and the line is taken again at the channel's pace", () => {
    laneSpec(breaker)
      .given(...opened, ...arrive(9, 10), reported(), advance(30_000), timer('halfOpen'), claimedRows([[row(9)]]))
      .when(answered(200), reported())
      .then(({ effects }) => {
        expect(circuitsOf(effects)).toEqual(['CLOSED']);
        expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_9', 'channel.circuit-closed.v1']);
        expect(ofKind(effects, 'claim')).toEqual([expect.objectContaining({ count: 19 })]); // twice its concurrency (10), less the probe still being written
      });
  });

  it('a failed probe opens the circuit again, for another resetTimeoutMs; the reason says so', () => {
    laneSpec(breaker)
      .given(...opened, advance(30_000), timer('halfOpen'), ...arrive(9))
      .when(answered(503))
      .then(({ effects }) => {
        expect(circuitsOf(effects)).toEqual(['OPEN']);
        expect(eventsOf(effects).find((e) => e.type === 'channel.circuit-opened.v1')?.data.reason).toBe('the half-open probe failed: HTTP 503');
        expect(timersOf(effects)).toContainEqual(['halfOpen', 60_000]);
      });
  });

  it('a probe cut off by a shutdown lets another go', () => {
    laneSpec(breaker)
      .given(...opened, advance(30_000), timer('halfOpen'), ...arrive(9))
      .when((seen) => ({ kind: 'cut', work: seen.launched.at(-1)! }))
      .then(({ lane }) => expect(lane.breaker.probeOut).toBe(false));
  });

  it('a 429 does not count against the breaker: it throttles the channel by Retry-After, and what comes meanwhile waits CHANNEL_BUSY', () => {
    const throttled = [...arrive(1, 2, 3, 4), ...[1, 2, 3, 4].map(() => answered(429, { retryAfter: '1' }))];
    laneSpec(breaker)
      .given(...throttled)
      .when(...arrive(5))
      .then(({ effects, lane, all }) => {
        expect(circuitsOf(all)).toEqual([]);
        expect(eventsOf(effects)).toEqual([{ type: 'delivery.deferred.v1', data: expect.objectContaining({ reason: 'CHANNEL_BUSY', until: new Date(T0 + 1_000).toISOString() }) }]);
        expect(lane.health(T0)).toMatchObject({ circuit: 'CLOSED', throttledUntil: new Date(T0 + 1_000).toISOString() });
      });
  });

  it('a throttled channel takes nothing from its line until the throttle ends, and is woken then', () => {
    laneSpec(breaker)
      .given(...arrive(1), answered(429, { retryAfter: '1' }))
      .when(reported())
      .then(({ effects }) => {
        expect(kinds(effects)).not.toContain('claim');
        expect(timersOf(effects)).toEqual([['wake', 1_000]]);
      });
  });

  it("changed settings apply to the channel's breaker", () => {
    laneSpec(breaker)
      .given({ world: { channel: { circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 1, resetTimeoutMs: 1_000 } } } }, ...arrive(1))
      .when(answered(500))
      .then(({ effects }) => expect(timersOf(effects)).toContainEqual(['halfOpen', 1_000]));
  });
});
