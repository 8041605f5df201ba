import { rm } from 'node:fs/promises';
import {
  ApiClient, ApiResponse, AS_A_USER_RUNS_IT, eventually, freePort, killPostgresProcessesOf, killStrayWaybillChildren, newDataDir, PartnerReceiver,
  startWaybill, stopWaybill, WaybillProcess,
} from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-resend-window-0123';
const HOOK = '/fast-partner';
const CALLS_IN_FLIGHT = 16;
/** The channel's `maxConcurrency` (the API's default): at most this many requests in flight at once. */
const CHANNEL_CONCURRENCY = 10;
/**
 * A request the partner got longer than this before the kill had its answer read and its outcome
 * noted (a loopback partner answers in about a millisecond); anything later was still in flight.
 */
const IN_FLIGHT_MS = 50;

/**
 * Delivery is at least once, but a crash must not send everything again (issue 10, item 14). A
 * delivery is noted finished as its outcome's events go out, and a message read again after the
 * crash is not sent again when its delivery was. What a crash repeats is then only what was in
 * flight when the process died: requests the partner got whose answers Waybill never read — which
 * at least once must repeat (the partner dedupes them by Idempotency-Key), and which a channel's
 * concurrency limit bounds. Before, every delivery since the log's last checkpoint was sent again.
 */
describe('standalone: the deliveries a crash sends again', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    receiver.always(HOOK, { status: 200 });
    dataDir = await newDataDir('waybill-e2e-resend-');
    env = { ...AS_A_USER_RUNS_IT, PORT: String(await freePort()), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY };
    waybill = await startWaybill('standalone', env, 50_000);
  }, 60_000);

  afterAll(async () => {
    await stopWaybill(waybill);
    await killStrayWaybillChildren();
    await killPostgresProcessesOf(dataDir).catch((err) => console.error(err));
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('only requests in flight at the kill are sent again (none finished before it), every transaction answered 202 delivered', async () => {
    const org = await new ApiClient(waybill!.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Resend window' });
    const api = new ApiClient(waybill!.baseUrl, org.body.apiKey);
    const channel = await api.post('/v1/channels', { name: 'Fast partner', type: 'HTTP', url: receiver.url(HOOK) });
    const rel = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);

    // Single calls, many in flight, until the process dies.
    const accepted: string[] = [];
    let sending = true;
    let sent = 0;
    const senders = Array.from({ length: CALLS_IN_FLIGHT }, async () => {
      while (sending) {
        const res: ApiResponse | null = await api.post('/v1/transactions', { relationshipId: rel.body.id, payload: { n: ++sent } }).catch(() => null);
        if (res?.status === 202) accepted.push(res.body.id);
      }
    });
    // Under way for a while: the partner has had requests for more than a second.
    await receiver.waitFor(1_500, (r) => r.path === HOOK, 30_000);
    const killedAt = Date.now();
    expect(await waybill!.stop('SIGKILL')).toBe('SIGKILL');
    sending = false;
    await Promise.all(senders);
    const lastSecond = receiver.requestsTo(HOOK).filter((r) => r.at > killedAt - 1_000 && r.at <= killedAt).length;

    waybill = await startWaybill('standalone', env, 50_000);
    // Every transaction answered 202 reaches the partner.
    await eventually(
      async () => new Set(receiver.requestsTo(HOOK).map((r) => r.headers['waybill-transaction-id'])),
      (seen) => accepted.every((id) => seen.has(id)),
      60_000,
      'every accepted transaction delivered',
    );
    // A repeat is the same delivery and attempt received again (a retry is not a repeat).
    const pairs = new Map<string, number>();
    for (const r of receiver.requestsTo(HOOK)) {
      const pair = `${r.headers['waybill-delivery-id']}#${r.headers['waybill-attempt']}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
    }
    const repeats = [...pairs.values()].reduce((n, count) => n + count - 1, 0);
    const firstAt = new Map<string, number>();
    for (const r of receiver.requestsTo(HOOK)) {
      const pair = `${r.headers['waybill-delivery-id']}#${r.headers['waybill-attempt']}`;
      if (!firstAt.has(pair)) firstAt.set(pair, r.at);
    }
    const ages = [...pairs].filter(([, c]) => c > 1).map(([p]) => killedAt - (firstAt.get(p) as number)).sort((a, b) => a - b);
    process.stderr.write(`repeats first received this long before the kill (ms): ${ages.join(' ')}\n`);
    process.stderr.write(
      `re-send window: ${repeats} deliveries sent again after a SIGKILL; the partner got ${lastSecond} requests in the last second before it ` +
        `(${((100 * repeats) / Math.max(1, lastSecond)).toFixed(2)}%); ${accepted.length} transactions accepted in all\n`,
    );
    expect(lastSecond).toBeGreaterThan(0);
    // Each repeat was in flight when the process died: the partner got it within a few ms of the kill…
    expect(ages.filter((age) => age > IN_FLIGHT_MS)).toEqual([]);
    // …and no more were in flight than the channel's concurrency allows.
    expect(repeats).toBeLessThanOrEqual(CHANNEL_CONCURRENCY);
  }, 150_000);
});
