import {
  answered, arrive, channel, claimedRows, eventsOf, kinds, laneSpec, ofKind, reported, row, T0, timersOf, typesOf, writesOf,
} from '../../../../__fixtures__/lane-spec';

/** A line with one row due: the lane claims it (the runtime's part is `claimedRows`). */
const lineOf = (due: number) => ({ kind: 'lineLoaded' as const, line: { due, parked: due, nextDueAt: T0 } });

/** What an attempt's answer leads to: the delivery rules, decided. */
describe('ChannelLane: an attempt answered', () => {
  it.each([
    [200, 'ACCEPTED'],
    [201, 'ACCEPTED'],
    [204, 'ACCEPTED'],
    [202, 'DISPATCHED'],
    [400, 'REJECTED'],
    [401, 'FAILED'],
    [404, 'FAILED'],
    [409, 'FAILED'],
    [301, 'FAILED'],
    [302, 'FAILED'],
  ] as const)('a partner answering %i: one delivery.attempted saying %s, and no terminal event beside it; the delivery noted finished', (status, outcome) => {
    laneSpec()
      .given(...arrive(1))
      .when(answered(status))
      .then(({ effects }) => {
        expect(eventsOf(effects)).toEqual([{ type: 'delivery.attempted.v1', data: expect.objectContaining({ deliveryId: 'dl_1', attempt: 1, statusCode: status, outcome }) }]);
        const [write] = writesOf(effects);
        expect(write).toMatchObject({ park: [], settle: null, pull: [] });
        expect(write.finished.map((d) => d.request.deliveryId)).toEqual(['dl_1']);
      });
  });

  it.each([
    ['429', 429],
    ['500', 500],
    ['503', 503],
    ['no answer within the timeout', 'timeout'],
    ['a reset connection', 'reset'],
  ] as const)('%s is retryable: the retry is scheduled by the policy (fixed: 200 ms) and parked', (_, answer) => {
    laneSpec()
      .given(...arrive(1))
      .when(answered(answer))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_1', 'delivery.retry-scheduled.v1 tx_1']);
        expect(eventsOf(effects)[1].data).toMatchObject({ attempt: 2, dueAt: new Date(T0 + 200).toISOString() });
        const [write] = writesOf(effects);
        expect(write.park).toEqual([expect.objectContaining({ attempt: 2, dueAt: new Date(T0 + 200), leasedUntil: null })]);
        expect(write.finished).toEqual([]);
        expect(write.parkedFor).toEqual({ retry: 1 });
      });
  });

  it('the last retry spent: FAILED with a delivery.exhausted alert, its row deleted, and noted finished (its message read again is not sent again)', () => {
    laneSpec()
      .given(lineOf(1), claimedRows([[row(1, 3)]]))
      .when(answered(500))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_1', 'transaction.failed.v1 tx_1', 'delivery.exhausted.v1 tx_1']);
        expect(eventsOf(effects)[2].data).toMatchObject({ channelId: 'ch_1', attempts: 3, lastError: 'HTTP 500' });
        expect(writesOf(effects)[0]).toMatchObject({ settle: { ids: ['dl_1'], retry: null }, finished: [expect.objectContaining({ request: expect.objectContaining({ deliveryId: 'dl_1' }) })], park: [] });
      });
  });

  it('a work taken from the line settles its row: put back for the retry, not parked again, not noted', () => {
    laneSpec()
      .given(lineOf(1), claimedRows([[row(1, 1)]]))
      .when(answered(503))
      .then(({ effects }) => expect(writesOf(effects)[0]).toMatchObject({ park: [], finished: [], settle: { ids: ['dl_1'], retry: { attempt: 2, dueAt: new Date(T0 + 200) } } }));
  });

  it('a Retry-After asking for more patience is honoured within the policy', () => {
    laneSpec()
      .given(...arrive(1))
      .when(answered(503, { retryAfter: '1' }))
      .then(({ effects }) => expect(writesOf(effects)[0].park[0].dueAt).toEqual(new Date(T0 + 1_000)));
  });

  it('the exponential policy: once the next try would fall after maxDurationMs, FAILED', () => {
    const policy = { retryPolicy: { strategy: 'exponential' as const, initialDelayMs: 100, factor: 2, maxDelayMs: 400, maxDurationMs: 1_500 } };
    laneSpec(policy)
      .given(lineOf(1), claimedRows([[row(1, 4, null, { firstSeenAt: T0 - 1_450 })]]))
      .when(answered(500))
      .then(({ effects }) => expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_1', 'transaction.failed.v1 tx_1', 'delivery.exhausted.v1 tx_1']));
  });

  it('a destination refused at connect time (SSRF) is FAILED at once, and leaves the breaker alone', () => {
    const breaker = { circuitBreaker: { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeoutMs: 60_000 } };
    laneSpec(breaker)
      .given()
      .when(...arrive(1), answered('refused'))
      .then(({ effects, lane }) => {
        expect(eventsOf(effects).map((e) => [e.type, e.data.outcome])).toEqual([['delivery.attempted.v1', 'FAILED']]);
        expect(kinds(effects)).not.toContain('circuit');
        expect(lane.breaker.state).toBe('CLOSED');
      });
  });

  it("keeps the answer's excerpt with the attempt", () => {
    laneSpec()
      .given(...arrive(1))
      .when(answered(400, { excerpt: 'x'.repeat(1024) }))
      .then(({ effects }) => expect(eventsOf(effects)[0].data.responseExcerpt).toBe('x'.repeat(1024)));
  });

  it('once its writes are done the work is done: released, and its retry counted in the line, which wakes the lane when due', () => {
    laneSpec()
      .given(...arrive(1), answered(500))
      .when(reported())
      .then(({ effects, lane }) => {
        expect(ofKind(effects, 'release').flatMap((e) => e.works.flatMap((w) => w.ids))).toEqual(['dl_1']);
        expect(lane).toMatchObject({ running: 0, line: { due: 0, parked: 1, nextDueAt: T0 + 200 } });
        expect(lane.held.size).toBe(0);
        expect(timersOf(effects)).toEqual([['wake', 200]]);
      });
  });

  it('a batch: one answer for every item, and across retries the same id and items', () => {
    const spec = laneSpec({ batch: { maxItems: 3, maxWaitMs: 50 } }).given(...arrive(1, 2, 3));
    const batchId = ofKind(spec.state.all, 'launch')[0].work.batchId;
    spec.when(answered(500)).then(({ effects }) => {
      expect(writesOf(effects)[0].park.map((p) => [p.delivery.request.deliveryId, p.batchId, p.attempt])).toEqual([
        ['dl_1', batchId, 2],
        ['dl_2', batchId, 2],
        ['dl_3', batchId, 2],
      ]);
    });
    laneSpec({ batch: { maxItems: 3, maxWaitMs: 50 } })
      .given(...arrive(1, 2, 3))
      .when(answered(400))
      .then(({ effects }) => expect(eventsOf(effects).map((e) => [e.data.deliveryId, e.data.outcome])).toEqual([['dl_1', 'REJECTED'], ['dl_2', 'REJECTED'], ['dl_3', 'REJECTED']]));
  });

  it('a timeout makes the channel slow; an answer within the slow bound makes it healthy again', () => {
    const slow = laneSpec().given(...arrive(1, 2), answered('timeout'));
    expect(slow.state.lane.slow).toBe(true);
    slow.when(answered(200)).then(({ lane }) => expect(lane.slow).toBe(false));
  });

  it('a channel deleted while its request was out: a retryable answer ends the delivery FAILED', () => {
    laneSpec()
      .given(...arrive(1), channel(null))
      .when(answered(500))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['delivery.attempted.v1 tx_1', 'transaction.failed.v1 tx_1', 'delivery.exhausted.v1 tx_1']);
        expect(eventsOf(effects)[1].data.reason).toMatch(/^the channel no longer exists; last: HTTP 500/);
      });
  });
});

describe('ChannelLane: attempts that end without an answer', () => {
  it('cut off by a shutdown: not an attempt — no event, nothing written; the work stays held until the stop gives it back', () => {
    laneSpec()
      .given(...arrive(1))
      .when((seen) => ({ kind: 'cut', work: seen.launched[0] }))
      .then(({ effects, lane }) => {
        expect(writesOf(effects)).toEqual([]);
        expect(lane.running).toBe(0);
        expect(lane.held.has('dl_1')).toBe(true);
      });
  });

  it('an attempt that failed unexpectedly (not the partner) puts its deliveries back in the line', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1))
      .when((seen) => ({ kind: 'crashed', work: seen.launched[0] }), reported())
      .then(({ effects, lane }) => {
        expect(writesOf(effects)[0].park).toEqual([expect.objectContaining({ attempt: 1, leasedUntil: null })]);
        expect(eventsOf(effects)).toEqual([]);
        expect(lane.line).toMatchObject({ due: 1, parked: 1 });
        expect(ofKind(effects, 'claim')).toEqual([expect.objectContaining({ count: 2 })]); // taken again from the line
      });
  });
});
