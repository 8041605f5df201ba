import { partitionOf } from '@waybill/messaging';
import { PartnerReceiver } from '@waybill/testing';
import type { ChannelState } from '@waybill/contracts';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

const PARTITIONS = 3;

jest.setTimeout(30_000);

/**
 * Per-channel circuit breakers and isolation, against a real receiver through the real dispatcher
 * on Kafka: open, half-open, close with their alerts (also delivered to the alert channel), and a
 * hanging or failing partner costing the healthy ones nothing.
 */
describe('dispatcher (Kafka): circuit breakers and isolation', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  let n = 0;
  const path = () => `/breaker-${++n}`;
  const breaker = { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 1_000 };

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('kafka', { maxInFlight: 40, channelShare: 10, slowShare: 10 });
    await h.alertChannel((await h.channel({ url: receiver.url('/alerts') })).id);
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it('opens after enough failures, holds deliveries without spending attempts, lets one probe through, and closes', async () => {
    const hook = path();
    receiver.always(hook, { status: 500 });
    const channel = await h.channel({ url: receiver.url(hook), circuitBreaker: breaker, retryPolicy: { strategy: 'fixed', maxRetries: 5, delayMs: 100 } });
    const first = await h.sendMany(channel, 6);
    const [opened] = await h.events.waitForType('channel.circuit-opened.v1', 1, (a) => a.channelId === channel.id);
    expect(opened.reason).toMatch(/requests failed .*threshold 50%.*HTTP 500/);
    const openedAt = Date.parse(opened.at);

    // Open: what comes now waits, announced, without a request or an attempt.
    const later = await h.sendMany(channel, 2);
    const deferred = await h.events.waitForType('delivery.deferred.v1', 2, (e) => later.some((d) => d.transactionId === e.transactionId));
    expect(deferred.every((e) => e.reason === 'CIRCUIT_OPEN' && e.until !== null)).toBe(true);
    const health = await h.api.get(`/v1/channels/${channel.id}/health`);
    expect(health.body).toMatchObject({ circuit: 'OPEN', nextProbeAt: expect.any(String) });
    expect(health.body.waiting).toBeGreaterThanOrEqual(2);
    const sentWhileOpen = receiver.requestsTo(hook).length;

    // The partner recovers; after resetTimeoutMs one probe goes, and its success closes the circuit.
    receiver.always(hook, { status: 200 });
    await h.events.waitForType('channel.circuit-closed.v1', 1, (a) => a.channelId === channel.id, 10_000);
    const all = [...first, ...later];
    const outcomes = await h.events.outcomes(all.map((d) => d.transactionId));
    expect(Object.values(outcomes)).toEqual(Array(all.length).fill('ACCEPTED'));
    const requests = receiver.requestsTo(hook);
    const probe = requests[sentWhileOpen];
    expect(probe.at - openedAt).toBeGreaterThanOrEqual(breaker.resetTimeoutMs - 50);
    // Waiting spent no attempt: those that never went out before go out now as their first attempt.
    for (const d of later) {
      expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId).map((a) => a.attempt)).toEqual([1]);
    }
    // Both alerts reached the organisation's alert channel, as the alert event itself.
    const alerts = await receiver.waitFor(2, (r) => r.path === '/alerts' && JSON.parse(r.body).data.channelId === channel.id);
    expect(alerts.map((r) => JSON.parse(r.body).type).sort()).toEqual(['channel.circuit-closed.v1', 'channel.circuit-opened.v1']);
    expect(alerts[0].headers['content-type']).toBe('application/json');
  });

  it('a failed half-open probe opens the circuit again', async () => {
    const hook = path();
    receiver.always(hook, { status: 503 });
    const channel = await h.channel({ url: receiver.url(hook), circuitBreaker: breaker, retryPolicy: { strategy: 'fixed', maxRetries: 10, delayMs: 100 } });
    await h.sendMany(channel, 5);
    await h.events.waitForType('channel.circuit-opened.v1', 1, (a) => a.channelId === channel.id);
    const before = receiver.requestsTo(hook).length;
    const [, again] = await h.events.waitForType('channel.circuit-opened.v1', 2, (a) => a.channelId === channel.id, 10_000);
    expect(again.reason).toMatch(/half-open probe failed: HTTP 503/);
    expect(receiver.requestsTo(hook).length).toBe(before + 1); // one probe, not a stampede
  });

  it("while open, deliveries still end FAILED when their policy's time runs out", async () => {
    const hook = path();
    receiver.always(hook, { status: 500 });
    const channel = await h.channel({
      url: receiver.url(hook),
      circuitBreaker: { ...breaker, resetTimeoutMs: 60_000 },
      retryPolicy: { strategy: 'exponential', initialDelayMs: 100, factor: 2, maxDelayMs: 200, maxDurationMs: 2_000 },
    });
    await h.sendMany(channel, 4);
    await h.events.waitForType('channel.circuit-opened.v1', 1, (a) => a.channelId === channel.id);
    const [waiting] = await h.sendMany(channel, 1);
    const outcome = await h.events.outcomes([waiting.transactionId], 10_000);
    expect(outcome[waiting.transactionId]).toBe('FAILED');
    expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === waiting.transactionId)).toEqual([]);
    await h.events.waitForType('delivery.exhausted.v1', 1, (a) => a.transactionId === waiting.transactionId);
  });

  it('429 does not count against the breaker: it slows the channel down by Retry-After', async () => {
    const hook = path();
    receiver.script(hook, ...Array(4).fill({ status: 429, headers: { 'retry-after': '1' } }));
    receiver.always(hook, { status: 200 });
    const channel = await h.channel({ url: receiver.url(hook), circuitBreaker: breaker, maxConcurrency: 4, retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 100 } });
    const ds = await h.sendMany(channel, 4);
    await receiver.waitFor(4, (r) => r.path === hook);
    const throttled = await h.api.get(`/v1/channels/${channel.id}/health`);
    expect(throttled.body).toMatchObject({ circuit: 'CLOSED', throttledUntil: expect.any(String) });
    const [late] = await h.sendMany(channel, 1);
    const outcomes = await h.events.outcomes([...ds, late].map((d) => d.transactionId));
    expect(Object.values(outcomes)).toEqual(Array(5).fill('ACCEPTED'));
    const requests = receiver.requestsTo(hook);
    expect(requests[4].at - requests[3].at).toBeGreaterThanOrEqual(900); // nothing went out while throttled
    expect(h.events.of('channel.circuit-opened.v1', (a) => a.channelId === channel.id)).toEqual([]);
  });

  it('a hanging partner does not delay a healthy one on the same partition, and waits in its own line', async () => {
    const hanging = path();
    const healthy = path();
    receiver.always(hanging, { hang: true });
    // Channel ids on one partition: the same consumer, the same batches.
    const [hangingId, healthyId] = idsOnOnePartition(2);
    const slow = await h.channel({
      id: hangingId,
      url: receiver.url(hanging),
      timeoutMs: 2_000,
      maxConcurrency: 5,
      retryPolicy: { strategy: 'fixed', maxRetries: 0, delayMs: 100 },
      circuitBreaker: { ...breaker, volumeThreshold: 1_000 },
    });
    const fast = await h.channel({ id: healthyId, url: receiver.url(healthy) });
    const warmUp = await h.sendMany(fast, 1);
    await h.events.outcomes(warmUp.map((d) => d.transactionId));

    const stuck = await h.sendMany(slow, 15);
    await receiver.waitFor(5, (r) => r.path === hanging);
    const sentAt = Date.now();
    const ok = await h.sendMany(fast, 20);
    await h.events.outcomes(ok.map((d) => d.transactionId), 5_000);
    expect(Date.now() - sentAt).toBeLessThan(2_000); // well before the hanging requests time out
    expect(receiver.requestsTo(hanging)).toHaveLength(5); // its own limit: the rest wait in its line
    const health = await h.api.get(`/v1/channels/${slow.id}/health`);
    expect(health.body).toMatchObject({ inFlight: 5, waiting: 10 });

    // Mixed in one batch with the hanging channel's work, the healthy channel still goes at once.
    const mixed = await h.send(...Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? h.delivery(slow) : h.delivery(fast))));
    const mixedAt = Date.now();
    await h.events.outcomes(mixed.filter((d) => d.channelId === fast.id).map((d) => d.transactionId), 5_000);
    expect(Date.now() - mixedAt).toBeLessThan(2_000);
    // The hanging ones end by their timeout, FAILED (no retries), five at a time.
    const outcomes = await h.events.outcomes(stuck.map((d) => d.transactionId), 20_000);
    expect(new Set(Object.values(outcomes))).toEqual(new Set(['FAILED']));
  });

  it('slow channels cannot take the whole budget of requests in flight', async () => {
    // Budget 40: 30 for healthy channels, 10 for slow ones; four hanging partners, each allowed 10.
    const hangs = await Promise.all([1, 2, 3, 4].map(() => path()));
    for (const p of hangs) receiver.always(p, { hang: true });
    const slowChannels: ChannelState[] = [];
    for (const p of hangs) slowChannels.push(await h.channel({ url: receiver.url(p), timeoutMs: 5_000, maxConcurrency: 10, retryPolicy: { strategy: 'fixed', maxRetries: 0, delayMs: 100 } }));
    for (const c of slowChannels) await h.sendMany(c, 30);
    await receiver.waitFor(10, (r) => hangs.includes(r.path));
    const fast = await h.channel({ url: receiver.url(path()), maxConcurrency: 10 });
    const ok = await h.sendMany(fast, 30);
    const started = Date.now();
    await h.events.outcomes(ok.map((d) => d.transactionId), 5_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    // Each took its first ten before it was found slow; found slow, they gave the healthy pool back
    // and wait in their lines: the slow pool (10) is more than full.
    expect(receiver.requests.filter((r) => hangs.includes(r.path)).length).toBeLessThanOrEqual(40);
  });
});

/** Channel ids that all fall on one partition of `waybill.deliveries`. */
function idsOnOnePartition(count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    const id = `ch_iso${Date.now().toString(36)}${i}`;
    if (ids.length === 0 || partitionOf(id, PARTITIONS) === partitionOf(ids[0], PARTITIONS)) ids.push(id);
  }
  return ids;
}
