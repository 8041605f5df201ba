import {
  advance, answered, arrive, arriveAll, channel, delivery, eventsOf, kinds, laneSpec, launchedIds, ofKind, reported, room, T0, timer, timersOf, typesOf, writesOf,
} from '../../../../__fixtures__/lane-spec';

/** How a lane takes deliveries from the log: in memory and at once, or written where they go. */
describe('ChannelLane: deliveries that arrive', () => {
  it('a healthy channel takes a delivery at once: held for the commit point, launched, nothing written', () => {
    laneSpec()
      .given()
      .when(...arrive(1))
      .then(({ effects, lane }) => {
        expect(kinds(effects)).toEqual(['hold', 'launch']);
        expect(lane.running).toBe(1);
      });
  });

  it("first attempts leave in the order accepted, up to the channel's maxConcurrency; the rest wait in memory", () => {
    laneSpec({ maxConcurrency: 3 })
      .given()
      .when(...arrive(1, 2, 3, 4, 5))
      .then(({ effects, lane }) => {
        expect(launchedIds(effects)).toEqual(['dl_1', 'dl_2', 'dl_3']);
        expect(lane.queue.map((w) => w.ids[0])).toEqual(['dl_4', 'dl_5']);
        expect(writesOf(effects)).toEqual([]);
      });
  });

  it("channelShare caps a channel's concurrency, whatever its maxConcurrency", () => {
    laneSpec({ maxConcurrency: 50 }, {}, { channelShare: 2 })
      .given()
      .when(...arrive(1, 2, 3))
      .then(({ effects }) => expect(launchedIds(effects)).toEqual(['dl_1', 'dl_2']));
  });

  it('a slot that frees goes to the next in the queue once the attempt before it is written', () => {
    const busy = laneSpec({ maxConcurrency: 1 }).given(...arrive(1, 2), answered(200));
    expect(launchedIds(busy.state.all)).toEqual(['dl_1']); // answered, not yet written: still its slot
    busy.when(reported()).then(({ effects }) => expect(launchedIds(effects)).toEqual(['dl_2']));
  });

  it('no room in the budget: nothing launched, and the lane asks to be told when there is', () => {
    laneSpec({}, { room: { normal: 0, slow: 20 } })
      .given()
      .when(...arrive(1))
      .then(({ effects }) => expect(kinds(effects)).toEqual(['hold', 'awaitRoom']));
    laneSpec({}, { room: { normal: 0, slow: 20 } })
      .given(...arrive(1), room(1))
      .when({ kind: 'room' })
      .then(({ effects }) => expect(launchedIds(effects)).toEqual(['dl_1']));
  });

  it('the room counted in one decision is used up by it: no more launches than slots', () => {
    laneSpec({}, { room: { normal: 0, slow: 20 } })
      .given(...arrive(1, 2, 3), room(2))
      .when({ kind: 'room' })
      .then(({ effects }) => expect(kinds(effects)).toEqual(['launch', 'launch', 'awaitRoom']));
  });

  it('a delivery read again while its work is in memory (a rebalance) is held by that work, not sent twice', () => {
    laneSpec()
      .given(...arrive(1))
      .when(...arrive(1))
      .then(({ effects, all, lane }) => {
        expect(kinds(effects)).toEqual(['hold']);
        expect(ofKind(effects, 'hold')[0].work).toBe(ofKind(all, 'launch')[0].work);
        expect(lane.running).toBe(1);
      });
  });

  it('a channel without a URL ends the delivery FAILED without an attempt, noted finished', () => {
    laneSpec({ url: null })
      .given()
      .when(...arrive(1))
      .then(({ effects }) => {
        expect(kinds(effects)).toEqual(['write']);
        expect(eventsOf(effects)).toEqual([{ type: 'transaction.failed.v1', data: expect.objectContaining({ deliveryId: 'dl_1', reason: 'the channel has no URL' }) }]);
        expect(writesOf(effects)[0].finished.map((d) => d.request.deliveryId)).toEqual(['dl_1']);
      });
  });

  it("a delivery whose retry policy's time ran out before it could go ends FAILED, with delivery.exhausted", () => {
    laneSpec()
      .given()
      .when(...arriveAll([delivery(1, { firstSeenAt: T0 - 3_600_001 })]))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['transaction.failed.v1 tx_1', 'delivery.exhausted.v1 tx_1']);
        expect(launchedIds(effects)).toEqual([]);
      });
  });

  it("a disabled channel's deliveries wait in its line without spending an attempt, announced CHANNEL_DISABLED, looked at again every disabledRecheckMs", () => {
    laneSpec({ enabled: false })
      .given()
      .when(...arrive(1), reported())
      .then(({ effects, lane }) => {
        const [write] = writesOf(effects);
        expect(write.park).toEqual([expect.objectContaining({ attempt: 1, dueAt: new Date(T0), leasedUntil: null, batchId: null })]);
        expect(eventsOf(effects)).toEqual([{ type: 'delivery.deferred.v1', data: expect.objectContaining({ deliveryId: 'dl_1', reason: 'CHANNEL_DISABLED', until: null }) }]);
        expect(lane.line).toEqual({ due: 1, parked: 1, nextDueAt: T0 });
        expect(timersOf(effects)).toEqual([['wake', 1_000]]);
      });
  });

  it('deliveries queued for a channel that is then deleted end FAILED: the channel no longer exists', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1, 2, 3), channel(null))
      .when({ kind: 'room' })
      .then(({ effects, lane }) => {
        expect(typesOf(effects)).toEqual(['transaction.failed.v1 tx_2', 'transaction.failed.v1 tx_3']);
        expect(eventsOf(effects)[0].data.reason).toBe('the channel no longer exists');
        expect(lane.queue).toEqual([]);
      });
  });

  it('deliveries queued for a channel that turned PULL go to its pull queue', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1, 2, 3), channel({ type: 'PULL' }))
      .when({ kind: 'room' })
      .then(({ effects }) => expect(writesOf(effects)[0].pull.map((d) => d.request.deliveryId)).toEqual(['dl_2', 'dl_3']));
  });
});

describe('ChannelLane: batching channels', () => {
  const batch = (maxItems: number, maxWaitMs: number) => ({ batch: { maxItems, maxWaitMs } });

  it('fills a batch in memory: maxItems a request, in the order accepted; a batch that does not fill goes after maxWaitMs', () => {
    const spec = laneSpec(batch(5, 50)).given(...arrive(...Array.from({ length: 12 }, (_, i) => i + 1)));
    expect(launchedIds(spec.state.all)).toEqual(['dl_1+dl_2+dl_3+dl_4+dl_5', 'dl_6+dl_7+dl_8+dl_9+dl_10']);
    expect(timersOf(spec.state.all).at(-1)).toEqual(['batch', 50]);
    spec.when(advance(50), timer('batch')).then(({ effects }) => expect(launchedIds(effects)).toEqual(['dl_11+dl_12']));
  });

  it('a batch has one id, and one format: a delivery of another format closes the batch being filled', () => {
    laneSpec(batch(5, 50))
      .given()
      .when(...arriveAll([delivery(1), delivery(2, { format: 'XML' })]))
      .then(({ effects, lane }) => {
        const [work] = ofKind(effects, 'launch').map((e) => e.work);
        expect(work).toMatchObject({ batchId: expect.stringMatching(/^bat_/), attempt: 1 });
        expect(work.ids).toEqual(['dl_1']);
        expect(lane.openBatch?.ids).toEqual(['dl_2']);
      });
  });

  it('a maxWaitMs longer than half the hold gathers the batch in the parked line instead', () => {
    laneSpec(batch(4, 600))
      .given()
      .when(...arrive(1, 2))
      .then(({ effects }) => {
        expect(launchedIds(effects)).toEqual([]);
        expect(writesOf(effects).flatMap((w) => w.park.map((p) => [p.delivery.request.deliveryId, p.batchId]))).toEqual([
          ['dl_1', null],
          ['dl_2', null],
        ]);
      });
  });

  it('maxItems 1 goes at once, whatever the wait', () => {
    laneSpec(batch(1, 60_000))
      .given()
      .when(...arrive(1))
      .then(({ effects }) => expect(launchedIds(effects)).toEqual(['dl_1']));
  });
});
