import {
  advance, answered, arrive, channel, claimedRows, eventsOf, kinds, laneSpec, launchedIds, ofKind, reported, room, row, T0, timer, timersOf, typesOf, writesOf,
} from '../../../../__fixtures__/lane-spec';

const loaded = (due: number, parked = due, nextDueAt: number | null = T0) => ({ kind: 'lineLoaded' as const, line: { due, parked, nextDueAt } });
const rows = (from: number, n: number, attempt = 1) => Array.from({ length: n }, (_, i) => [row(from + i, attempt)]);

/** The parked line as the lane sees it: what is due, when to look again, how much to take. */
describe('ChannelLane: its parked line', () => {
  it("a new owner's lane takes what is due as the channel has room: twice its concurrency, under a lease of twice its timeout", () => {
    laneSpec()
      .given()
      .when(loaded(30))
      .then(({ effects }) => expect(ofKind(effects, 'claim')).toEqual([{ kind: 'claim', count: 20, leasedUntil: new Date(T0 + 2 * 2_000 + 5_000), batch: null }]));
  });

  it("claims are sized to the budget's room as well (a channel's limit beyond it), and wait for room when there is none", () => {
    laneSpec({}, { room: { normal: 3, slow: 20 } })
      .given()
      .when(loaded(30))
      .then(({ effects }) => expect(ofKind(effects, 'claim')[0].count).toBe(13));
    laneSpec({}, { room: { normal: 0, slow: 20 } })
      .given()
      .when(loaded(30))
      .then(({ effects }) => expect(kinds(effects)).toEqual(['awaitRoom', 'claim']));
  });

  it('works taken from the line go first, through the same limits; with its limit at hand the lane takes no more', () => {
    laneSpec()
      .given(loaded(30), ...arrive(100))
      .when(claimedRows(rows(1, 20)))
      .then(({ effects, lane }) => {
        expect(launchedIds(effects)).toEqual(['dl_1', 'dl_2', 'dl_3', 'dl_4', 'dl_5', 'dl_6', 'dl_7', 'dl_8', 'dl_9']); // dl_100 holds the tenth slot
        expect(lane.queue[0].ids).toEqual(['dl_10']);
        expect(lane.line).toMatchObject({ due: 10, parked: 10 });
        expect(kinds(effects)).not.toContain('claim');
      });
  });

  it('fewer came than asked: the line as the table has it now, and a wake-up when its next row becomes due', () => {
    laneSpec()
      .given(loaded(3))
      .when(claimedRows([[row(1)]], { due: 0, parked: 2, nextDueAt: T0 + 5_000 }))
      .then(({ effects, lane }) => {
        expect(lane.line).toEqual({ due: 0, parked: 2, nextDueAt: T0 + 5_000 });
        expect(timersOf(effects)).toEqual([['wake', 5_000]]);
      });
  });

  it('nothing due: the lane asks to be woken when the next row is, and takes it then', () => {
    const waiting = laneSpec().given(...arrive(1), answered(500), reported());
    expect(timersOf(waiting.state.all)).toEqual([['wake', 200]]);
    waiting.when(advance(200), timer('wake')).then(({ effects }) => expect(ofKind(effects, 'claim')).toHaveLength(1));
  });

  it("a batching channel's loose rows make no batch before readyAt: the lane looks again then, not before", () => {
    laneSpec({ batch: { maxItems: 4, maxWaitMs: 600 } })
      .given(loaded(2))
      .when(claimedRows([], { due: 2, parked: 2, nextDueAt: T0 }, T0 + 600), ...arrive(3))
      .then(({ effects }) => {
        expect(timersOf(effects)).toEqual([['wake', 600]]);
        expect(kinds(effects)).not.toContain('claim');
      });
  });

  it('a claim asks for batches of a batching channel', () => {
    laneSpec({ batch: { maxItems: 4, maxWaitMs: 600 } })
      .given()
      .when(loaded(2))
      .then(({ effects }) => expect(ofKind(effects, 'claim')[0].batch).toEqual({ maxItems: 4, maxWaitMs: 600 }));
  });

  it('rows of deliveries in memory already (running, after a hand-over) stay with the works that hold them', () => {
    laneSpec({ maxConcurrency: 1 })
      .given(...arrive(1), loaded(1))
      .when(claimedRows([[row(1, 1)]]))
      .then(({ lane }) => expect(lane.queue).toEqual([]));
  });

  it('a claim that failed is tried again a second later', () => {
    laneSpec()
      .given(loaded(1))
      .when({ kind: 'claimFailed' })
      .then(({ effects, lane }) => {
        expect(lane.claiming).toBe(false);
        expect(timersOf(effects)).toEqual([['wake', 1_000]]);
      });
  });

  it('a disabled channel takes nothing from its line, and looks again every disabledRecheckMs', () => {
    laneSpec({ enabled: false })
      .given()
      .when(loaded(5))
      .then(({ effects }) => {
        expect(kinds(effects)).toEqual(['timer']);
        expect(timersOf(effects)).toEqual([['wake', 1_000]]);
      });
  });

  it("a deleted channel's line is moved on, 50 at a time: FAILED, the rows deleted", () => {
    laneSpec()
      .given(channel(null), loaded(2))
      .when(claimedRows(rows(1, 2, 2)))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['transaction.failed.v1 tx_1', 'transaction.failed.v1 tx_2']);
        expect(writesOf(effects)[0].settle).toEqual({ ids: ['dl_1', 'dl_2'], retry: null });
      });
    laneSpec()
      .given(channel(null))
      .when(loaded(80))
      .then(({ effects }) => expect(ofKind(effects, 'claim')[0].count).toBe(50));
  });

  it('a line whose channel turned PULL goes to the pull queue, the rows deleted', () => {
    laneSpec()
      .given(channel({ type: 'PULL' }), loaded(1))
      .when(claimedRows([[row(1)]]))
      .then(({ effects }) => expect(writesOf(effects)[0]).toMatchObject({ pull: [expect.objectContaining({ orgId: 'org_1' })], settle: { ids: ['dl_1'], retry: null } }));
  });

  it('a claimed row whose policy ran out ends FAILED with delivery.exhausted, counting the attempts it made', () => {
    laneSpec()
      .given(loaded(1))
      .when(claimedRows([[row(1, 3, null, { firstSeenAt: T0 - 3_600_001 })]]))
      .then(({ effects }) => {
        expect(typesOf(effects)).toEqual(['transaction.failed.v1 tx_1', 'delivery.exhausted.v1 tx_1']);
        expect(eventsOf(effects)[1].data).toMatchObject({ attempts: 2 });
      });
  });

  it('a partition lost: its line is no longer taken, and its wake-up is cleared', () => {
    laneSpec()
      .given(...arrive(1), answered(500), reported())
      .when({ kind: 'partitionLost' }, advance(200), timer('wake'))
      .then(({ effects }) => {
        expect(timersOf(effects)).toEqual([['wake', null]]);
        expect(kinds(effects)).not.toContain('claim');
      });
  });

  it('waiting rows whose time ran out were removed: the line counts them no more', () => {
    laneSpec({ enabled: false })
      .given(loaded(5))
      .when({ kind: 'expired', count: 2 })
      .then(({ lane }) => expect(lane.line).toMatchObject({ due: 3, parked: 3 }));
  });

  it('a slow channel takes its line on the slow pool of the budget', () => {
    laneSpec({}, {}, {})
      .given(...arrive(1), answered('timeout'), reported(), room(100, 5), advance(200), timer('wake'))
      .when(claimedRows([[row(1, 2)]]))
      .then(({ effects }) => expect(ofKind(effects, 'launch')[0].work.slot).toBe('slow'));
  });
});
