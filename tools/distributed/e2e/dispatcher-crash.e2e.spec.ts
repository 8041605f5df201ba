import {
  ApiClient, distributedEnv, freePort, killStrayWaybillChildren, mapInPool, PartnerReceiver, ServiceApp, startServices, startWaybill,
  stopWaybill, waitForAllStatus, WaybillProcess,
} from '@waybill/testing';

const N = 100;
/** Sent while no dispatcher runs. */
const DURING_OUTAGE = 20;
const HOOK = '/slow-partner';
const TEST_TIMEOUT_MS = 85_000;

/**
 * Distributed mode on the real Kafka broker, the four services started as separate processes and
 * called directly, each for what it owns: registry (organisations, channels), routing
 * (relationships, transactions), status (reading transactions).
 */
describe('distributed mode: SIGKILL of the dispatcher while deliveries are in flight loses nothing', () => {
  let receiver: PartnerReceiver;
  let env: Record<string, string>;
  let services: Partial<Record<ServiceApp, WaybillProcess>> = {};
  let secondDispatcher: WaybillProcess | undefined;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    env = await distributedEnv();
    services = await startServices(env, undefined, 50_000);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...Object.values(services), secondDispatcher].map((p) => stopWaybill(p)));
    await killStrayWaybillChildren();
    await receiver.stop();
  }, 30_000);

  it('a new dispatcher process takes over and every transaction ends ACCEPTED', async () => {
    const deadline = Date.now() + TEST_TIMEOUT_MS - 5_000; // ends with our own message, not Jest's timeout
    const registry = new ApiClient(services['channel-registry']!.baseUrl, env.WAYBILL_ADMIN_KEY);
    const org = await registry.post('/v1/organizations', { name: 'Dispatcher crash' });
    expect(org.status).toBe(201);
    const key = org.body.apiKey as string;
    const channels = registry.withKey(key);
    const routing = new ApiClient(services['relationship-routing']!.baseUrl, key);
    const status = new ApiClient(services['status-projection']!.baseUrl, key);

    // A partner that takes its time (300–800 ms), so that deliveries are in flight when the dispatcher dies.
    receiver.script(HOOK, ...Array.from({ length: N }, () => ({ slowMs: 300 + Math.floor(Math.random() * 500), status: 200 })));
    receiver.always(HOOK, { slowMs: 300, status: 200 });
    const channel = await channels.post('/v1/channels', { name: 'Slow partner', type: 'HTTP', url: receiver.url(HOOK) });
    expect(channel.status).toBe(201);
    const rel = await routing.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);
    const send = (from: number, count: number) =>
      mapInPool(Array.from({ length: count }, (_, i) => from + i), 10, (i) =>
        routing.post('/v1/transactions', { relationshipId: rel.body.id, payload: { purchaseOrderNumber: `PO-${i}` } }),
      );

    // Kill the dispatcher the moment the partner gets its 30th request: that one (answered after
    // 300 ms at the earliest) and the others of its round are in flight, the rest not sent yet.
    // Routing keeps taking transactions meanwhile: only the dispatcher dies.
    const sending = send(0, N);
    await receiver.waitFor(30, (r) => r.path === HOOK, 40_000);
    const crashAt = Date.now();
    expect(await services.dispatcher!.stop('SIGKILL')).toBe('SIGKILL');
    const atCrash = receiver.requestsTo(HOOK);
    expect(atCrash.filter((r) => r.at > crashAt - 300).length).toBeGreaterThan(0); // unanswered when it died
    expect(new Set(atCrash.map((r) => r.headers['waybill-transaction-id'])).size).toBeLessThan(N);
    const answers = await sending;
    expect(answers.map((a) => a.status)).toEqual(Array(N).fill(202));

    // Without a dispatcher, the rest of Waybill still takes transactions.
    const duringOutage = await send(N, DURING_OUTAGE);
    expect(duringOutage.map((a) => a.status)).toEqual(Array(DURING_OUTAGE).fill(202));
    const ids = [...answers, ...duringOutage].map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(N + DURING_OUTAGE);

    // A new dispatcher process of the same deployment. It gets the channel's partition once the
    // consumer group has given up on the dead member (session timeout: 10 s).
    secondDispatcher = await startWaybill('dispatcher', { ...env, PORT: String(await freePort()) }, 30_000);

    try {
      await waitForAllStatus(status, ids, 'ACCEPTED', Math.max(5_000, deadline - Date.now()));
    } catch (err) {
      throw new Error(`${(err as Error).message}\nnew dispatcher's output (tail):\n${secondDispatcher.output().slice(-3_000)}`);
    }
    // The partner got every transaction at least once (at-least-once: duplicates allowed).
    const received = new Set(receiver.requestsTo(HOOK).map((r) => r.headers['waybill-transaction-id']));
    expect(ids.filter((id) => !received.has(id))).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
