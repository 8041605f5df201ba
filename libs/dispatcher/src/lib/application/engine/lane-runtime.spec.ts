import type { ChannelState } from '@waybill/contracts';
import { OutgoingMessage, silentLog } from '@waybill/messaging';
import { channelState } from '../../../__fixtures__/channel-state';
import { delivery, OPTIONS, result } from '../../../__fixtures__/lane-spec';
import { CircuitBreaker } from '../../domain/circuit-breaker';
import { Gather } from './gather';
import { InFlightBudget } from './in-flight-budget';
import { ChannelLane } from './lane/channel-lane';
import { LaneRuntime } from './lane-runtime';
import { LineKeeper } from './line-keeper';
import { Pace } from './pace';
import type { AttemptResult, ParkedLineStore } from './ports';
import { Recovery } from './recovery';
import { Releases } from './releases';

/** A partner whose answers the test gives, one request at a time. */
class Partner {
  readonly sent: string[] = [];
  private readonly answers = new Map<string, (r: AttemptResult) => void>();
  send = (_: ChannelState, build: (s: never) => { headers: Record<string, string> }) => {
    const id = build({ authorization: null, signingSecrets: [] } as never).headers['waybill-delivery-id'];
    this.sent.push(id);
    return new Promise<AttemptResult>((resolve) => this.answers.set(id, resolve));
  };
  answer(id: string, status = 200): void {
    this.answers.get(id)?.(result(status));
  }
}

function setUp(normalSlots: number) {
  const calls: string[] = [];
  const channels = new Map<string, ChannelState>(['ch_a', 'ch_b'].map((id) => [id, { ...channelState('org_1'), id, url: 'https://partner.example/hook' }]));
  const partner = new Partner();
  const budget = new InFlightBudget(normalSlots, 1);
  const parked = { park: async () => void calls.push('park'), settle: async () => void calls.push('settle') } as unknown as ParkedLineStore;
  const publisher = { publish: async (m: OutgoingMessage[]) => void calls.push(`publish ${m.length}`) };
  const recovery = new Recovery(parked, { noteFinished: async () => void calls.push('note'), finishedOf: async () => new Map(), forgetFinished: async () => undefined }, publisher.publish, silentLog);
  const keeper = new LineKeeper({ parked, log: silentLog, expirySweepMs: 1_000, owned: () => [], closing: () => true, anyParked: () => false, loaded: () => undefined, expired: () => undefined });
  const runtime = new LaneRuntime({
    channels: { current: (id) => channels.get(id) },
    gateway: { send: partner.send as never, forget: () => undefined },
    parked,
    pull: { enqueue: async () => undefined },
    publisher,
    metrics: { attempt: () => undefined, parked: () => undefined, circuit: () => undefined },
    log: silentLog,
    budget,
    pace: new Pace(250),
    releases: new Releases(),
    recovery,
    keeper,
    circuitChanged: () => undefined,
  });
  const lane = (id: string, maxConcurrency = 10) => {
    channels.set(id, { ...(channels.get(id) as ChannelState), maxConcurrency });
    return new ChannelLane(id, 'org_1', 0, new CircuitBreaker((channels.get(id) as ChannelState).circuitBreaker), OPTIONS, () => 'bat_1', Date.now(), true);
  };
  const arrive = (l: ChannelLane, n: number) => {
    const gather = new Gather({ mergeWrites: true });
    runtime.dispatch(l, { kind: 'arrived', delivery: delivery(n, { channelId: l.id }) }, { gather });
    return gather;
  };
  return { runtime, partner, budget, calls, lane, arrive };
}

const settled = () => new Promise((r) => setImmediate(r));

/** The runtime: carrying out what lanes decide, in the order the rules need. */
describe('LaneRuntime', () => {
  it("a slot that frees goes to the lanes waiting for room before its own lane's next work", async () => {
    const { partner, lane, arrive } = setUp(1);
    const a = lane('ch_a', 1);
    const b = lane('ch_b');
    arrive(a, 1);
    arrive(a, 2); // queued behind ch_a's own limit
    arrive(b, 3); // no room in the budget: ch_b waits for some
    expect(partner.sent).toEqual(['dl_1']);
    partner.answer('dl_1');
    await settled();
    expect(partner.sent).toEqual(['dl_1', 'dl_3']);
    partner.answer('dl_3');
    await settled();
    expect(partner.sent).toEqual(['dl_1', 'dl_3', 'dl_2']);
  });

  it("an attempt's outcome: its events published (the delivery noted finished alongside), and only then the slot given back and the work released", async () => {
    const { partner, budget, calls, lane, arrive } = setUp(5);
    const a = lane('ch_a');
    const gather = arrive(a, 1);
    const [work] = gather.held;
    partner.answer('dl_1');
    await settled();
    expect(calls).toEqual(['note', 'publish 1']);
    expect(budget.inFlight).toBe(0);
    expect(work.released).toBe(true);
  });

  it('a retryable answer: its events published before its retry is parked', async () => {
    const { partner, calls, lane, arrive } = setUp(5);
    arrive(lane('ch_a'), 1);
    partner.answer('dl_1', 503);
    await settled();
    expect(calls).toEqual(['publish 2', 'park']);
  });

  it('an arrival the channel cannot take now is written with the others of its batch, in one write', async () => {
    const { runtime, calls, lane } = setUp(5);
    const a = lane('ch_a');
    const gather = new Gather({ mergeWrites: true });
    for (const n of [1, 2]) runtime.dispatch(a, { kind: 'arrived', delivery: delivery(n, { channelId: 'ch_a' }) }, { gather, channel: { ...channelState('org_1'), id: 'ch_a', url: 'https://partner.example/hook', enabled: false } });
    expect(calls).toEqual([]);
    await runtime.flush(gather);
    expect(calls).toEqual(['publish 2', 'park']);
    expect(a.line).toMatchObject({ due: 2, parked: 2 });
  });
});
