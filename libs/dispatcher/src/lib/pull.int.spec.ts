import type { ChannelState } from '@waybill/contracts';
import { eventually } from '@waybill/testing';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

jest.setTimeout(30_000);

/** PULL channels: the lease queue the partner reads and acknowledges through the API. */
describe('dispatcher (embedded): pull channels', () => {
  let h: DispatcherHarness;
  const pullChannel = (over: Partial<ChannelState> = {}) => h.channel({ type: 'PULL', url: null, ...over });
  const messages = (c: ChannelState, query = '') => h.api.get(`/v1/channels/${c.id}/messages${query}`);
  const pollsWaiting = async () => {
    const metrics = await h.api.get<string>('/metrics');
    return Number(/^waybill_pull_polls_waiting (\d+)$/m.exec(metrics.body)?.[1] ?? NaN);
  };

  beforeAll(async () => {
    h = await DispatcherHarness.start('embedded');
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('leases waiting deliveries in order, with the envelope a push carries; ack makes them ACCEPTED', async () => {
    const channel = await pullChannel();
    const ds = await h.sendMany(channel, 3);
    const first = await messages(channel, `?limit=2&waitMs=5000`);
    expect(first.status).toBe(200);
    expect(first.body.data.map((m: { transactionId: string }) => m.transactionId)).toEqual(ds.slice(0, 2).map((d) => d.transactionId));
    expect(first.body.data[0]).toMatchObject({
      deliveryId: ds[0].deliveryId,
      attempt: 1,
      leaseExpiresAt: expect.any(String),
      format: 'JSON',
      id: ds[0].transactionId,
      senderId: 'ACME',
      receiverId: 'GLOBEX',
      delivery: { id: ds[0].deliveryId, attempt: 1 },
      payload: ds[0].payload,
    });
    const ack = await h.api.post(`/v1/channels/${channel.id}/messages/ack`, { deliveryIds: ds.slice(0, 2).map((d) => d.deliveryId) });
    expect(ack.status).toBe(200);
    expect(ack.body.data.map((r: { status: string }) => r.status)).toEqual(['ACCEPTED', 'ACCEPTED']);
    const accepted = await h.events.waitForType('transaction.accepted.v1', 2, (e) => ds.slice(0, 2).some((d) => d.transactionId === e.transactionId));
    expect(accepted.every((e) => e.by === 'PULL')).toBe(true);
    const rest = await messages(channel);
    expect(rest.body.data.map((m: { deliveryId: string }) => m.deliveryId)).toEqual([ds[2].deliveryId]);
  });

  it('ack and nack are idempotent', async () => {
    const channel = await pullChannel();
    const [a, b] = await h.sendMany(channel, 2);
    await messages(channel, '?waitMs=5000&limit=2');
    const ack = () => h.api.post(`/v1/channels/${channel.id}/messages/ack`, { deliveryIds: [a.deliveryId] });
    expect((await ack()).body.data).toEqual([{ deliveryId: a.deliveryId, status: 'ACCEPTED' }]);
    expect((await ack()).body.data).toEqual([{ deliveryId: a.deliveryId, status: 'ACCEPTED' }]);
    const reject = () => h.api.post(`/v1/channels/${channel.id}/messages/nack`, { deliveryIds: [b.deliveryId], reject: true });
    expect((await reject()).body.data).toEqual([{ deliveryId: b.deliveryId, status: 'REJECTED' }]);
    expect((await reject()).body.data).toEqual([{ deliveryId: b.deliveryId, status: 'REJECTED' }]);
    expect((await ack()).body.data).toEqual([{ deliveryId: a.deliveryId, status: 'ACCEPTED' }]);
    expect(h.events.of('transaction.accepted.v1', (e) => e.transactionId === a.transactionId)).toHaveLength(1);
    await h.events.waitForType('transaction.rejected.v1', 1, (e) => e.transactionId === b.transactionId);
    expect(h.events.of('transaction.rejected.v1', (e) => e.transactionId === b.transactionId)).toHaveLength(1);
    // Unknown ids change nothing.
    const unknown = await h.api.post(`/v1/channels/${channel.id}/messages/ack`, { deliveryIds: ['dl_nope'] });
    expect(unknown.body.data).toEqual([{ deliveryId: 'dl_nope', status: 'NOT_FOUND' }]);
  });

  it('a nack puts the message back: the next lease is attempt 2', async () => {
    const channel = await pullChannel({ retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 100 } });
    const [d] = await h.sendMany(channel, 1);
    await messages(channel, '?waitMs=5000');
    const nack = await h.api.post(`/v1/channels/${channel.id}/messages/nack`, { deliveryIds: [d.deliveryId] });
    expect(nack.body.data).toEqual([{ deliveryId: d.deliveryId, status: 'QUEUED' }]);
    const again = await messages(channel);
    expect(again.body.data).toEqual([expect.objectContaining({ deliveryId: d.deliveryId, attempt: 2 })]);
    const attempts = await h.events.waitForType('delivery.attempted.v1', 1, (a) => a.transactionId === d.transactionId);
    expect(attempts[0]).toMatchObject({ attempt: 1, outcome: 'RETRYABLE' });
  });

  it('a long poll waits for a delivery and answers as soon as it arrives', async () => {
    const channel = await pullChannel();
    const started = Date.now();
    const poll = messages(channel, '?waitMs=10000');
    await eventually(pollsWaiting, (n) => n === 1, 10_000, 'the long poll waiting');
    const [d] = await h.sendMany(channel, 1);
    const res = await poll;
    expect(res.body.data.map((m: { deliveryId: string }) => m.deliveryId)).toEqual([d.deliveryId]);
    expect(Date.now() - started).toBeLessThan(10_000); // answered by the delivery, not by the end of its wait
    expect(await pollsWaiting()).toBe(0);
    const empty = Date.now();
    expect((await messages(channel, '?waitMs=500')).body.data).toEqual([]);
    expect(Date.now() - empty).toBeGreaterThanOrEqual(450);
  });

  it('a lease not acknowledged within the visibility timeout returns the message; the retry policy ends it FAILED', async () => {
    const channel = await pullChannel({ visibilityTimeoutMs: 1_000, retryPolicy: { strategy: 'fixed', maxRetries: 1, delayMs: 100 } });
    const [d] = await h.sendMany(channel, 1);
    expect((await messages(channel, '?waitMs=5000')).body.data).toHaveLength(1);
    expect((await messages(channel)).body.data).toEqual([]); // leased: invisible
    const back = await messages(channel, '?waitMs=5000');
    expect(back.body.data).toEqual([expect.objectContaining({ deliveryId: d.deliveryId, attempt: 2 })]);
    // The second lease runs out too: its policy (one retry) is spent, and nobody has to poll for it.
    expect((await h.events.outcomes([d.transactionId], 10_000))[d.transactionId]).toBe('FAILED');
    expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'RETRYABLE'],
      [2, 'RETRYABLE'],
    ]);
    await h.events.waitForType('delivery.exhausted.v1', 1, (a) => a.transactionId === d.transactionId);
    expect((await messages(channel)).body.data).toEqual([]);
  });

  it('health shows what waits and what is leased', async () => {
    const channel = await pullChannel();
    await h.sendMany(channel, 3);
    await messages(channel, '?waitMs=5000&limit=1');
    const health = await h.api.get(`/v1/channels/${channel.id}/health`);
    expect(health.body).toMatchObject({ circuit: 'CLOSED', inFlight: 1, waiting: 2 });
  });

  it('answers 409 for a push channel, 404 for another organisation, 400 for a bad query', async () => {
    const push = await h.channel({ url: 'http://127.0.0.1:9/x' });
    expect((await messages(push)).status).toBe(409);
    const channel = await pullChannel();
    const stranger = await h.stranger();
    expect((await stranger.get(`/v1/channels/${channel.id}/messages`)).status).toBe(404);
    expect((await stranger.post(`/v1/channels/${channel.id}/messages/ack`, { deliveryIds: ['x'] })).status).toBe(404);
    expect((await messages(channel, '?limit=0')).status).toBe(400);
    expect((await messages(channel, '?waitMs=20001')).status).toBe(400);
    expect((await h.api.post(`/v1/channels/${channel.id}/messages/nack`, { deliveryIds: [] })).status).toBe(400);
  });
});
