import { freePort, PartnerReceiver, startWaybill, stopWaybill, WaybillProcess } from '@waybill/testing';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

const N = 60;
const HOOK = '/slow-partner';

/**
 * At least once, nothing lost: a dispatcher process (the app, as it runs in production) killed with
 * SIGKILL while deliveries are in flight, on the real Kafka broker; a new process of the same
 * deployment takes over the partition and delivers everything — the messages not acknowledged and
 * the deliveries parked (in flight, or waiting in the channel's line) alike.
 */
describe('dispatcher (Kafka): SIGKILL mid-flight', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  let first: WaybillProcess | undefined;
  let second: WaybillProcess | undefined;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('kafka', {}, false);
  }, 60_000);

  afterAll(async () => {
    await stopWaybill(first, 'SIGKILL');
    await stopWaybill(second);
    await h?.stop();
    await receiver?.stop();
  }, 30_000);

  it('a new dispatcher process delivers every delivery of the one that was killed', async () => {
    receiver.always(HOOK, { slowMs: 400, status: 200 });
    first = await startWaybill('dispatcher', { ...h.env, PORT: String(await freePort()) }, 60_000);
    // A long timeout: the leases of what was in flight would hold for a minute.
    const channel = await h.channel({ url: receiver.url(HOOK), maxConcurrency: 5, timeoutMs: 60_000 });
    const ds = await h.sendMany(channel, N);

    // By then the batch has handed what it still held to the parked line (maxHoldMs): some rows
    // leased by the first process, in flight, the others waiting.
    await receiver.waitFor(40, (r) => r.path === HOOK, 30_000);
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    const crashedAt = Date.now();
    const atCrash = new Set(receiver.requestsTo(HOOK).map((r) => r.headers['waybill-transaction-id']));
    expect(atCrash.size).toBeLessThan(N);

    second = await startWaybill('dispatcher', { ...h.env, PORT: String(await freePort()) }, 60_000);
    const ids = ds.map((d) => d.transactionId);
    const outcomes = await h.events.outcomes(ids, 60_000);
    expect(new Set(Object.values(outcomes))).toEqual(new Set(['ACCEPTED']));
    // The dead process's leases were taken back once its partition moved (session timeout, 10 s),
    // not when they ran out (a minute).
    expect(Date.now() - crashedAt).toBeLessThan(40_000);
    const received = new Set(receiver.requestsTo(HOOK).map((r) => r.headers['waybill-transaction-id']));
    expect(ids.filter((id) => !received.has(id))).toEqual([]);
  }, 120_000);
});

/**
 * SIGTERM's path: stopping gives the attempts in flight their grace, then cuts off what still
 * hangs — not an attempt, nothing recorded — and the next dispatcher delivers it.
 */
describe('dispatcher (Kafka): a graceful stop with a request hanging', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  const hook = '/hangs-then-answers';

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('kafka'); // shutdown grace: 500 ms
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  }, 30_000);

  it('cuts the request off after the grace, records no attempt for it, and the next dispatcher delivers it', async () => {
    receiver.script(hook, { hang: true }, { status: 200 });
    const channel = await h.channel({ url: receiver.url(hook), timeoutMs: 60_000 });
    const [d] = await h.sendMany(channel, 1);
    await receiver.waitFor(1, (r) => r.path === hook, 30_000);

    await h.stopDispatcher(); // resolves only once the hanging request was cut off
    expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId)).toEqual([]);

    await h.startDispatcher();
    expect((await h.events.outcomes([d.transactionId], 60_000))[d.transactionId]).toBe('ACCEPTED');
    expect(receiver.requestsTo(hook)).toHaveLength(2);
    expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId)).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, outcome: 'ACCEPTED' }),
    ]);
  }, 120_000);
});
