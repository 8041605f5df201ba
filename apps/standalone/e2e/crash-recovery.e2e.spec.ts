import { rm } from 'node:fs/promises';
import {
  ApiClient, AS_A_USER_RUNS_IT, freePort, isStillRunning, killPostgresProcessesOf, killStrayWaybillChildren, mapInPool, newDataDir, PartnerReceiver, postgresProcessesOf,
  PostgresProcess, startWaybill, stopWaybill, waitForAllStatus, WaybillProcess,
} from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-crash-recovery-0123';
const N = 200;
const HOOK = '/slow-partner';
const TEST_TIMEOUT_MS = 85_000;

describe('standalone (npm start): SIGKILL while deliveries are in flight loses nothing', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    dataDir = await newDataDir('waybill-e2e-crash-');
    env = { ...AS_A_USER_RUNS_IT, PORT: String(await freePort()), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY };
    waybill = await startWaybill('standalone', env, 50_000);
  }, 60_000);

  afterAll(async () => {
    await stopWaybill(waybill);
    await killStrayWaybillChildren();
    // A failed test may have left the first run's PostgreSQL orphaned: it is ours, stop it.
    await killPostgresProcessesOf(dataDir).catch((err) => console.error(err));
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('every transaction answered 202 ends ACCEPTED and reaches the partner after a restart on the same data', async () => {
    const deadline = Date.now() + TEST_TIMEOUT_MS - 5_000; // ends with our own message, not Jest's timeout
    // A partner that takes its time (300–800 ms), so that deliveries are in flight when the process dies.
    receiver.script(HOOK, ...Array.from({ length: N }, () => ({ slowMs: 300 + Math.floor(Math.random() * 500), status: 200 })));
    receiver.always(HOOK, { slowMs: 300, status: 200 });

    const org = await new ApiClient(waybill!.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Crash test' });
    expect(org.status).toBe(201);
    const api = new ApiClient(waybill!.baseUrl, org.body.apiKey);
    const channel = await api.post('/v1/channels', { name: 'Slow partner', type: 'HTTP', url: receiver.url(HOOK) });
    expect(channel.status).toBe(201);
    const rel = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);

    const answers = await mapInPool(Array.from({ length: N }, (_, i) => i), 10, (i) =>
      api.post('/v1/transactions', { relationshipId: rel.body.id, payload: { purchaseOrderNumber: `PO-${i}` } }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(N).fill(202));
    const ids = answers.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(N);

    // The app's PostgreSQL (postmaster and backends) as it is before the crash.
    const firstRun = await postgresProcessesOf(dataDir);
    expect(firstRun.filter((p) => p.postmaster)).toHaveLength(1);

    // Crash the moment the partner gets its 40th request: that one (answered after 300 ms at the
    // earliest) and the others of its round are in flight, the rest of the 200 not sent yet.
    await receiver.waitFor(40, (r) => r.path === HOOK, 30_000);
    const crashAt = Date.now();
    expect(await waybill!.stop('SIGKILL')).toBe('SIGKILL');
    const atCrash = receiver.requestsTo(HOOK);
    expect(atCrash.filter((r) => r.at > crashAt - 300).length).toBeGreaterThan(0); // unanswered when it died
    expect(new Set(atCrash.map((r) => r.headers['waybill-transaction-id'])).size).toBeLessThan(N);

    waybill = await startWaybill('standalone', env, 50_000);
    expect(waybill.baseUrl).toBe(api.baseUrl);

    // Nothing of the first run is left: the launcher took over the PostgreSQL it orphaned.
    const leftovers: PostgresProcess[] = [];
    for (const p of firstRun) if (await isStillRunning(p)) leftovers.push(p);
    expect(leftovers).toEqual([]);
    const now = await postgresProcessesOf(dataDir);
    const postmasters = now.filter((p) => p.postmaster);
    expect(postmasters).toHaveLength(1);
    expect(postmasters[0].ppid).toBe(waybill.child.pid); // the running app's own child
    expect(now.filter((p) => !p.postmaster && p.ppid !== postmasters[0].pid)).toEqual([]); // no stray backends

    // Every transaction answered 202 ends ACCEPTED…
    await waitForAllStatus(api, ids, 'ACCEPTED', Math.max(5_000, deadline - Date.now()));
    // …and the partner got every one of them at least once (at-least-once: duplicates allowed).
    const received = new Set(receiver.requestsTo(HOOK).map((r) => r.headers['waybill-transaction-id']));
    expect(ids.filter((id) => !received.has(id))).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
