import type { Work } from '../work';
import {
  advance, answered, arrive, eventsOf, Happening, kinds, laneSpec, ofKind, reported, Seen, T0, typesOf, writesOf,
} from '../../../../__fixtures__/lane-spec';

/** The hold guard asks about the works of its batch that are still held. */
const holdCheck = (everything = false) => (seen: Seen) => ({ kind: 'holdCheck' as const, works: held(seen), everything });
const held = (seen: Seen): Work[] => [...new Set(seen.lane.held.values())];
const parkedIds = (seen: Seen) => writesOf(seen.effects).flatMap((w) => w.park.map((p) => p.delivery.request.deliveryId));
const numbers = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** The commit point's bound: which works a batch would wait too long for, and how they are parked. */
describe('ChannelLane: the hold', () => {
  it('a healthy channel busy for a few rounds keeps its works in memory: nothing is handed over', () => {
    laneSpec()
      .given(...arrive(...numbers(1, 30)), advance(100))
      .when(holdCheck())
      .then(({ effects }) => expect(writesOf(effects)).toEqual([]));
  });

  it('a burst far beyond the channel\'s concurrency: the works whose rounds ahead would take too long wait in the line instead', () => {
    // One at a time, answers taking 100 ms: past 15 rounds ahead, more than half of maxHoldMs (1.5 s).
    const slowish: Happening[] = [...arrive(1), answered(200, { durationMs: 100 }), reported()];
    laneSpec({ maxConcurrency: 1 })
      .given(...slowish, ...arrive(...numbers(2, 40)))
      .when(holdCheck())
      .then((seen) => {
        expect(parkedIds(seen)).toEqual(numbers(18, 24).map((n) => `dl_${n}`));
        expect(writesOf(seen.effects)[0].park[0]).toMatchObject({ leasedUntil: null, dueAt: new Date(T0) });
        expect(seen.lane.queue).toHaveLength(15);
      });
  });

  it('handed over: once written, those works are in the line (due now) and their messages may be acknowledged', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1), answered(200, { durationMs: 100 }), reported(), ...arrive(...numbers(2, 40)), holdCheck())
      .when(reported())
      .then(({ effects, lane }) => {
        expect(ofKind(effects, 'release').flatMap((e) => e.works)).toHaveLength(24);
        expect(lane.line).toMatchObject({ due: 24, parked: 24 });
      });
  });

  it('a request in flight past the slow bound is handed over under a lease; its channel is slow from then on', () => {
    laneSpec()
      .given(...arrive(1), advance(300))
      .when(holdCheck())
      .then(({ effects, lane }) => {
        expect(writesOf(effects)[0].park).toEqual([expect.objectContaining({ attempt: 1, leasedUntil: new Date(T0 + 2_000 + 5_000) })]);
        expect(lane.slow).toBe(true);
        expect(kinds(effects)).not.toContain('release'); // not before the lease is written
      });
  });

  it('once its lease is written, the request in flight no longer holds the batch; it goes on', () => {
    laneSpec()
      .given(...arrive(1), advance(300), holdCheck())
      .when(reported())
      .then(({ effects, lane }) => {
        expect(ofKind(effects, 'release').flatMap((e) => e.works.flatMap((w) => w.ids))).toEqual(['dl_1']);
        expect(lane.running).toBe(1);
      });
  });

  it('an answer that comes while its hand-over is being written waits for it, then settles the leased row', () => {
    const answeredMeanwhile = laneSpec().given(...arrive(1), advance(300), holdCheck(), answered(200));
    expect(writesOf(answeredMeanwhile.state.all).filter((w) => w.events.length > 0)).toEqual([]);
    answeredMeanwhile.when(reported()).then(({ effects }) => {
      const settling = writesOf(effects).find((w) => w.settle);
      expect(settling).toMatchObject({ settle: { ids: ['dl_1'], retry: null }, finished: [expect.objectContaining({ request: expect.objectContaining({ deliveryId: 'dl_1' }) })], park: [] });
      expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_1']);
    });
  });

  it('a partition taken away: what the lane holds of its messages is parked (in flight under a lease, the rest in the line), so that the new owner does not send it again', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1, 2, 3))
      .when({ kind: 'partitionLost' })
      .then((seen) => {
        expect(parkedIds(seen)).toEqual(['dl_1', 'dl_2', 'dl_3']);
        const [write] = writesOf(seen.effects);
        expect(write.park[0].leasedUntil).not.toBeNull();
        expect(write.park.slice(1).map((p) => p.leasedUntil)).toEqual([null, null]);
        expect(kinds(seen.effects)).not.toContain('launch');
      });
  });

  it('a partition taken away with nothing held of it writes nothing', () => {
    laneSpec()
      .given(...arrive(1), answered(200), reported())
      .when({ kind: 'partitionLost' })
      .then(({ effects }) => expect(writesOf(effects)).toEqual([]));
  });

  it('after maxHoldMs everything left is handed over: running works leased, queued ones to the line', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1, 2, 3), advance(100))
      .when(holdCheck(true))
      .then((seen) => {
        const [write] = writesOf(seen.effects);
        expect(write.park.map((p) => [p.delivery.request.deliveryId, p.leasedUntil !== null])).toEqual([
          ['dl_1', true],
          ['dl_2', false],
          ['dl_3', false],
        ]);
        expect(write.parkedFor).toEqual({ handover: 3 });
      });
  });

  it("found slow, a channel's works waiting in memory go to its line at once, and so does what arrives for it", () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1, 2))
      .when(answered('timeout'), ...arrive(3))
      .then((seen) => expect(parkedIds(seen)).toEqual(['dl_1', 'dl_2', 'dl_3'])); // dl_1: its retry
  });

  it("a slow channel's batch still filling is handed over at the hold's first look", () => {
    laneSpec({ batch: { maxItems: 10, maxWaitMs: 100 } })
      .given(...arrive(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), answered('timeout'))
      .when(holdCheck())
      .then((seen) => expect(parkedIds(seen)).toEqual(['dl_11']));
  });

  it('a batch still filling joins the line loose (the partner never saw its id), and its timer is cleared', () => {
    laneSpec({ batch: { maxItems: 10, maxWaitMs: 100 } })
      .given(...arrive(1, 2))
      .when(holdCheck(true))
      .then(({ effects, lane }) => {
        expect(writesOf(effects)[0].park.map((p) => p.batchId)).toEqual([null, null]);
        expect(lane.openBatch).toBeNull();
        expect(ofKind(effects, 'timer')).toEqual([{ kind: 'timer', timer: 'batch', at: null }]);
      });
  });

  it('works answered and being written, or being handed over already, are left alone', () => {
    laneSpec()
      .given(...arrive(1, 2), answered(200), advance(300), holdCheck())
      .when(holdCheck(true))
      .then(({ effects }) => expect(writesOf(effects)).toEqual([]));
  });
});

describe('ChannelLane: requests in flight a while', () => {
  const slowCheck = { kind: 'slowCheck' as const };

  it('a request in flight past the slow bound is announced once with delivery.started; one answered quickly costs no event', () => {
    const spec = laneSpec().given(...arrive(1), advance(100), slowCheck);
    expect(eventsOf(spec.state.all)).toEqual([]);
    spec.when(advance(200), slowCheck, slowCheck).then(({ effects }) => {
      expect(eventsOf(effects)).toEqual([{ type: 'delivery.started.v1', data: expect.objectContaining({ deliveryId: 'dl_1', attempt: 1, at: new Date(T0).toISOString() }) }]);
    });
  });

  it('found slow, the channel gives its normal slots back: its requests in flight move to the slow pool', () => {
    laneSpec()
      .given(...arrive(1, 2), advance(300))
      .when(slowCheck)
      .then(({ effects, lane }) => {
        expect(ofKind(effects, 'demote').map((e) => e.work.ids[0])).toEqual(['dl_1', 'dl_2']);
        expect(lane.slow).toBe(true);
        expect([...lane.inFlight].map((w) => w.slot)).toEqual(['slow', 'slow']);
      });
  });

  it('a slow channel takes nothing from the slow pool when it is full', () => {
    laneSpec({ maxConcurrency: 5 }, { room: { normal: 100, slow: 0 } })
      .given(...arrive(1), advance(300), slowCheck, answered('timeout'), reported())
      .when(advance(200), { kind: 'timer', timer: 'wake' })
      .then(({ effects }) => expect(kinds(effects)).toEqual(['awaitRoom', 'claim']));
  });
});
