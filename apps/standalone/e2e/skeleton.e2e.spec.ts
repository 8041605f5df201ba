import { rm } from 'node:fs/promises';
import { ApiClient, eventually, freePort, newDataDir, PartnerReceiver, sendOneTransaction, startWaybill, waitForStatus, WaybillProcess } from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-0123456789';

describe('standalone (npm start): one transaction end to end on the embedded transport', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    dataDir = await newDataDir('waybill-e2e-');
    env = { PORT: String(await freePort()), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY };
    waybill = await startWaybill('standalone', env);
  }, 120_000);

  afterAll(async () => {
    await waybill?.stop('SIGTERM');
    await receiver.stop();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('prints the first organisation key on the first run, and the key works', async () => {
    // The first run prints its key once it serves, which may be just after /health/ready answers.
    const printed = await eventually(async () => waybill!.output(), (out) => /wb_[A-Za-z0-9_-]{20,}/.test(out), 10_000, 'the first key printed');
    const key = /wb_[A-Za-z0-9_-]{20,}/.exec(printed)?.[0];
    expect(key).toBeDefined();
    const res = await new ApiClient(waybill!.baseUrl, key).get('/v1/channels');
    expect(res.status).toBe(200);
    expect(waybill!.output()).not.toMatch(/"apiKey"/);
  });

  it('delivers a transaction to the partner and shows it ACCEPTED', async () => {
    const org = await new ApiClient(waybill!.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Acme' });
    expect(org.status).toBe(201);
    const api = new ApiClient(waybill!.baseUrl, org.body.apiKey);

    const { transaction, firstRead } = await sendOneTransaction(api, receiver);
    expect(['PENDING', 'SENDING', 'ACCEPTED']).toContain(firstRead.status);

    const done = await waitForStatus(api, transaction.id, 'ACCEPTED');
    expect(done.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, outcome: 'ACCEPTED' })]);
    const [delivered] = receiver.requestsTo('/hook').filter((r) => r.headers['waybill-transaction-id'] === transaction.id);
    expect(delivered.headers['idempotency-key']).toBe(transaction.id);
    expect(JSON.parse(delivered.body)).toMatchObject({ id: transaction.id, payload: { purchaseOrderNumber: 'PO-1' } });
  });

  it('stops cleanly on SIGTERM and keeps its data for the next start', async () => {
    expect(await waybill!.stop('SIGTERM')).toBe(0);
    waybill = await startWaybill('standalone', env);
    expect(waybill.output()).not.toMatch(/wb_[A-Za-z0-9_-]{20,}/); // not a first run any more
    const org = await new ApiClient(waybill.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'After restart' });
    expect(org.status).toBe(201);
  }, 120_000);
});
