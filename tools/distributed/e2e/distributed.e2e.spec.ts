import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ApiClient, createTestDatabase, freePort, PartnerReceiver, sendOneTransaction, startDistributed, testKafkaBrokers, uniqueName,
  waitForStatus, WaybillProcess,
} from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-distributed-0123';

describe('distributed mode: four services on a real Kafka broker, behind the edge', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let api: ApiClient;
  let dataDir: string;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-dist-'));
    await chmod(dataDir, 0o755);
    waybill = await startDistributed({
      PORT: String(await freePort()),
      WAYBILL_SERVICE_PORTS: (await Promise.all([1, 2, 3, 4].map(() => freePort()))).join(','),
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      WAYBILL_KAFKA_NAMESPACE: uniqueName('e2e'),
      DATABASE_URL: await createTestDatabase(),
      WAYBILL_DATA_DIR: dataDir,
      WAYBILL_ADMIN_KEY: ADMIN_KEY,
    });
    const org = await new ApiClient(waybill.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Acme' });
    expect(org.status).toBe(201);
    api = new ApiClient(waybill.baseUrl, org.body.apiKey);
  }, 180_000);

  afterAll(async () => {
    await waybill?.stop('SIGTERM');
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('reads its writes across services: a new key, channel, relationship and transaction, each used at once', async () => {
    const { transaction, firstRead } = await sendOneTransaction(api, receiver);
    expect(firstRead.id).toBe(transaction.id);
    const done = await waitForStatus(api, transaction.id, 'ACCEPTED');
    expect(done.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, outcome: 'ACCEPTED' })]);
  });

  it('authenticates a key issued a moment ago on every service', async () => {
    const issued = await api.post('/v1/api-keys');
    expect(issued.status).toBe(201);
    const fresh = api.withKey(issued.body.apiKey);
    const { transaction } = await sendOneTransaction(fresh, receiver, '/fresh');
    await waitForStatus(fresh, transaction.id, 'ACCEPTED');
  });

  it('serves the console at / and routes the console’s API calls to the services that own them', async () => {
    const index = await new ApiClient(waybill!.baseUrl).get('/relationships');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    expect(index.headers['x-frame-options']).toBe('DENY');
    expect((await new ApiClient(waybill!.baseUrl).get('/v1/nothing')).status).toBe(404);

    const { transaction } = await sendOneTransaction(api, receiver, '/console');
    const done = await waitForStatus(api, transaction.id, 'ACCEPTED');
    expect((await api.get('/v1/organization')).body.name).toBe('Acme');
    expect((await api.get('/v1/stats/transactions')).body.ACCEPTED).toBeGreaterThanOrEqual(1);
    const stats = (await api.get('/v1/stats/deliveries?bucket=1m')).body;
    expect(stats.data.reduce((n: number, d: { ACCEPTED: number }) => n + d.ACCEPTED, 0)).toBeGreaterThanOrEqual(1);
    expect((await api.get('/v1/channel-health')).body).toEqual({ data: [] });
    const [attempt] = done.attempts;
    const sent = await api.get(`/v1/transactions/${transaction.id}/request?deliveryId=${attempt.deliveryId}&attempt=1`);
    expect(sent.status).toBe(200);
    const [received] = receiver.requestsTo('/console');
    expect(sent.body.request.body).toBe(received.body);
    expect((await api.post('/v1/transactions/redeliver', { status: 'FAILED', dryRun: true })).body).toEqual({ count: 0, dryRun: true });
  });

  it('stops every process on SIGTERM', async () => {
    expect(await waybill!.stop('SIGTERM')).toBe(0);
    waybill = undefined;
  });
});
