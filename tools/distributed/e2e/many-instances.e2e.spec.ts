import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, distributedEnv, eventually, freePort, PartnerReceiver, startDistributed, stopWaybill, waitForStatus, WaybillProcess } from '@waybill/testing';

jest.setTimeout(180_000);

type Service = 'channel-registry' | 'relationship-routing' | 'dispatcher' | 'status-projection';
/** As `npm run start:distributed` gives ports: by service, then by instance. */
const COUNTS: Array<[Service, number]> = [
  ['channel-registry', 2],
  ['relationship-routing', 2],
  ['dispatcher', 3],
  ['status-projection', 2],
];
/** A route each service answers for a key (401 for a bad one). */
const PROBE: Record<Service, string> = {
  'channel-registry': '/v1/channels',
  'relationship-routing': '/v1/relationships',
  dispatcher: '/v1/channels/ch_none/health',
  'status-projection': '/v1/transactions',
};

/**
 * The public contract with several instances of every service (`WAYBILL_INSTANCES`), each call
 * made straight to one instance right after the call it depends on was made on another: what a
 * client behind a load balancer meets. Reads its writes, pull leases, the order of first attempts,
 * and a revoked key, whichever instance answers.
 */
describe('distributed with several instances of each service: the same contract, whichever instance answers', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let adminKey: string;
  const urls = {} as Record<Service, string[]>;
  const on = (service: Service, n: number, key?: string) => new ApiClient(urls[service][n - 1], key);

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-dist-many-'));
    await chmod(dataDir, 0o755);
    const ports: number[] = [];
    for (const [service, count] of COUNTS) {
      urls[service] = [];
      for (let i = 0; i < count; i++) {
        const port = await freePort();
        ports.push(port);
        urls[service].push(`http://127.0.0.1:${port}`);
      }
    }
    const env = await distributedEnv();
    adminKey = env.WAYBILL_ADMIN_KEY;
    waybill = await startDistributed({
      ...env,
      WAYBILL_DATA_DIR: dataDir,
      WAYBILL_INSTANCES: COUNTS.map(([s, n]) => `${s}=${n}`).join(','),
      WAYBILL_SERVICE_PORTS: ports.join(','),
      PORT: String(await freePort()),
    });
  });
  afterAll(async () => {
    await stopWaybill(waybill);
    await receiver?.stop();
  });

  const organization = async () => {
    const org = await on('channel-registry', 2, adminKey).post('/v1/organizations', { name: `Org ${randomBytes(3).toString('hex')}` });
    expect(org.status).toBe(201);
    return org.body.apiKey as string;
  };

  it('reads its writes: key → channel → relationship → transaction → read and list, each at once on another instance', async () => {
    const first = await organization();
    const key = (await on('channel-registry', 1, first).post('/v1/api-keys')).body.apiKey as string;
    for (const [service, count] of COUNTS) {
      for (let n = 1; n <= count; n++) expect((await on(service, n, key).get(PROBE[service])).status).not.toBe(401);
    }
    const channel = await on('channel-registry', 2, key).post('/v1/channels', { name: 'ERP', url: receiver.url('/many-ryw') });
    expect(channel.status).toBe(201);
    const rel = await on('relationship-routing', 1, key).post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);
    const tx = await on('relationship-routing', 2, key).post('/v1/transactions', { relationshipId: rel.body.id, payload: { order: 1 } });
    expect(tx.status).toBe(202);
    for (const n of [1, 2]) {
      expect((await on('status-projection', n, key).get(`/v1/transactions/${tx.body.id}`)).body.id).toBe(tx.body.id);
      const list = await on('status-projection', n, key).get('/v1/transactions?limit=10');
      expect(list.body.data.map((t: { id: string }) => t.id)).toContain(tx.body.id);
    }
    await waitForStatus(new ApiClient(waybill!.baseUrl, key), tx.body.id, 'ACCEPTED');
    // The channel's health, from whichever dispatcher answers: the owner's, through the shared table.
    for (const n of [1, 2, 3]) {
      await eventually(() => on('dispatcher', n, key).get(`/v1/channels/${channel.body.id}/health`), (r) => r.status === 200 && r.body.lastOutcomes?.length > 0, 10_000, `dispatcher#${n} tells the channel's health`);
    }
  });

  it('pull: leases taken through different dispatcher instances never overlap, and an ack through a third accepts them', async () => {
    const key = await organization();
    const channel = await on('channel-registry', 1, key).post('/v1/channels', { name: 'Pull', type: 'PULL' });
    expect(channel.status).toBe(201);
    const rel = await on('relationship-routing', 2, key).post('/v1/relationships', { senderId: 'ACME', receiverId: 'PULLER', transactionType: '850', channelId: channel.body.id });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await on('relationship-routing', (i % 2) + 1, key).post('/v1/transactions', { relationshipId: rel.body.id, payload: { i } })).body.id);
    const leased = new Map<string, number>();
    await eventually(
      async () => {
        await Promise.all(
          [1, 2, 3].map(async (n) => {
            const res = await on('dispatcher', n, key).get(`/v1/channels/${channel.body.id}/messages?limit=5&waitMs=500`);
            for (const m of res.body.data ?? []) leased.set(m.deliveryId, (leased.get(m.deliveryId) ?? 0) + 1);
          }),
        );
        return leased;
      },
      (l) => l.size >= ids.length,
      30_000,
      'every message leased',
    );
    expect([...leased.values()].every((times) => times === 1)).toBe(true); // none leased twice within its visibility timeout
    expect((await on('dispatcher', 3, key).post(`/v1/channels/${channel.body.id}/messages/ack`, { deliveryIds: [...leased.keys()] })).status).toBe(200);
    for (const id of ids) await waitForStatus(new ApiClient(waybill!.baseUrl, key), id, 'ACCEPTED');
  });

  it('first attempts on a channel go out in the order the transactions were accepted, whichever routing instance accepted each', async () => {
    const key = await organization();
    // One request at a time: what the partner sees in order is what went out in order.
    const channel = await on('channel-registry', 2, key).post('/v1/channels', { name: 'Ordered', url: receiver.url('/many-order'), maxConcurrency: 1 });
    expect(channel.status).toBe(201);
    const rel = await on('relationship-routing', 1, key).post('/v1/relationships', { senderId: 'ACME', receiverId: 'ORDERED', transactionType: '850', channelId: channel.body.id });
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) sent.push((await on('relationship-routing', (i % 2) + 1, key).post('/v1/transactions', { relationshipId: rel.body.id, payload: { i } })).body.id);
    const got = await receiver.waitFor(20, (r) => r.path === '/many-order', 30_000);
    expect(got.map((r) => JSON.parse(r.body).id)).toEqual(sent);
  });

  it('a revoked key stops working on every instance within a second', async () => {
    const owner = await organization();
    const issued = (await on('channel-registry', 1, owner).post('/v1/api-keys')).body;
    const probes: Array<[Service, number, string]> = COUNTS.flatMap(([service, count]) =>
      Array.from({ length: count }, (_, i): [Service, number, string] => [service, i + 1, PROBE[service]]),
    );
    for (const [service, n, probe] of probes) expect((await on(service, n, issued.apiKey).get(probe)).status).not.toBe(401);
    const revokedAt = Date.now();
    expect((await on('channel-registry', 2, owner).delete(`/v1/api-keys/${issued.id}`)).status).toBe(204);
    await Promise.all(
      probes.map(([service, n, probe]) => eventually(() => on(service, n, issued.apiKey).get(probe), (r) => r.status === 401, 1_000, `${service}#${n} refuses the revoked key`)),
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });
});
