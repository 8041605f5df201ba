import { silentLog } from '@waybill/messaging';
import { answered, arrive, laneSpec, T0 } from '../../../__fixtures__/lane-spec';
import { HealthReporter } from './health-reporter';
import type { ChannelHealth } from './ports';

function reporter() {
  const saved: (ChannelHealth & { orgId: string })[][] = [];
  const r = new HealthReporter(
    {
      save: async (rows) => void saved.push(rows),
    },
    10_000,
    silentLog,
  );
  return { r, saved };
}

/** What the owner stores of its channels' health for the other instances. */
describe('HealthReporter', () => {
  it("stores a lane at once when its summary changed (circuit, throttle, slowness, work waiting); one that only changed its counts, every refreshMs", async () => {
    const { lane } = laneSpec().given(...arrive(1)).state;
    const { r, saved } = reporter();
    await r.flush([lane], T0);
    expect(saved.map((rows) => rows.map((h) => [h.channelId, h.orgId, h.inFlight]))).toEqual([[['ch_1', 'org_1', 1]]]);
    await r.flush([lane], T0 + 1_000); // nothing happened since
    lane.decide({ kind: 'room' }, { now: T0 + 1_000, channel: undefined, room: { normal: 1, slow: 1 }, slowAfterMs: 250, typicalMs: 0, closing: false });
    await r.flush([lane], T0 + 2_000); // something happened, the summary is the same: not yet
    expect(saved).toHaveLength(1);
    await r.flush([lane], T0 + 10_000);
    expect(saved).toHaveLength(2);
  });

  it('a summary that changed is stored at the next flush', async () => {
    const spec = laneSpec().given(...arrive(1));
    const { r, saved } = reporter();
    await r.flush([spec.state.lane], T0);
    spec.when(answered(429, { retryAfter: '5' }));
    await r.flush([spec.state.lane], T0 + 1);
    expect(saved[1][0]).toMatchObject({ throttledUntil: new Date(T0 + 5_000).toISOString() });
  });

  it('a lane of a partition another instance owns is not stored', async () => {
    const { lane } = laneSpec().given(...arrive(1), { kind: 'partitionLost' }).state;
    const { r, saved } = reporter();
    await r.flush([lane], T0);
    expect(saved).toEqual([]);
  });

  it('a store that failed is tried again at the next flush, though nothing changed since', async () => {
    const { lane } = laneSpec().given(...arrive(1)).state;
    let down = true;
    const saved: string[] = [];
    const r = new HealthReporter({ save: async (rows) => (down ? Promise.reject(new Error('database down')) : void saved.push(...rows.map((h) => h.channelId))) }, 10_000, silentLog);
    await r.flush([lane], T0);
    down = false;
    await r.flush([lane], T0 + 1_000);
    expect(saved).toEqual(['ch_1']);
  });
});
