import { rm } from 'node:fs/promises';
import { ApiClient, eventually, freePort, newDataDir, PartnerReceiver, runToExit, startWaybill, stopWaybill, waitForStatus, WaybillProcess } from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-sweep-0123456789';

jest.setTimeout(120_000);

/**
 * The status side tried as a new user would, with `npm start`'s app (embedded PostgreSQL, embedded
 * transport): a partner that answers 500 leaves the transaction FAILED after its retries; the list
 * of FAILED transactions shows it; the sweep redelivers it to the partner, healthy again, and it
 * ends ACCEPTED with every attempt in its history. Then `npm run projection:rebuild` replays the
 * log into a fresh read model, and the API answers exactly as before.
 */
describe('standalone (npm start): a failed delivery, found, swept, delivered', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;
  let dataDir: string;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    dataDir = await newDataDir('waybill-e2e-sweep-');
    waybill = await startWaybill('standalone', { PORT: String(await freePort()), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY });
  });

  afterAll(async () => {
    await stopWaybill(waybill);
    await receiver?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('FAILED after its retries, listed as FAILED, swept, and ACCEPTED with every attempt in its history', async () => {
    const org = await new ApiClient(waybill!.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Acme' });
    expect(org.status).toBe(201);
    const api = new ApiClient(waybill!.baseUrl, org.body.apiKey);

    receiver.always('/orders', { status: 500, body: 'database unavailable' });
    const channel = await api.post('/v1/channels', {
      name: 'Acme ERP',
      type: 'HTTP',
      url: receiver.url('/orders'),
      retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 100 },
    });
    expect(channel.status).toBe(201);
    const rel = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);
    const tx = await api.post('/v1/transactions', { relationshipId: rel.body.id, payload: { purchaseOrderNumber: 'PO-42' } });
    expect(tx.status).toBe(202);
    const id = tx.body.id;

    const failed = await waitForStatus(api, id, 'FAILED');
    expect(failed.attempts.map((a: any) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'RETRYABLE'],
      [2, 500, 'RETRYABLE'],
      [3, 500, 'RETRYABLE'],
    ]);

    const listed = await api.get('/v1/transactions?status=FAILED');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((t: any) => t.id)).toEqual([id]);

    receiver.always('/orders', { status: 200, body: 'thanks' });
    const sweep = await api.post('/v1/transactions/redeliver', { status: 'FAILED' });
    expect(sweep.status).toBe(202);
    expect(sweep.body).toEqual({ count: 1 });

    const accepted = await waitForStatus(api, id, 'ACCEPTED');
    expect(accepted.attempts.map((a: any) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'RETRYABLE'],
      [2, 500, 'RETRYABLE'],
      [3, 500, 'RETRYABLE'],
      [1, 200, 'ACCEPTED'],
    ]);
    expect(new Set(accepted.attempts.map((a: any) => a.deliveryId)).size).toBe(2);
    const delivered = receiver.requestsTo('/orders').filter((r) => r.headers['waybill-transaction-id'] === id);
    expect(delivered).toHaveLength(4);
    expect(JSON.parse(delivered[3].body)).toMatchObject({ id, payload: { purchaseOrderNumber: 'PO-42' } });

    const history = (await api.get(`/v1/transactions/${id}/events?limit=100`)).body.data.map((e: any) => e.type);
    expect(history).toEqual([
      'transaction.received.v2',
      'delivery.attempted.v1',
      'delivery.retry-scheduled.v1',
      'delivery.attempted.v1',
      'delivery.retry-scheduled.v1',
      'delivery.attempted.v1',
      'transaction.failed.v1',
      'transaction.redelivery-requested.v1',
      'transaction.routed.v1',
      'delivery.attempted.v1',
    ]);
    expect((await api.get('/v1/transactions?status=FAILED')).body.data).toEqual([]);
    const alerts = await eventually(async () => (await api.get('/v1/alerts?type=delivery.exhausted')).body.data, (d) => d.length === 1);
    expect(alerts[0]).toMatchObject({ channelId: channel.body.id, transactionId: id });

    // The read model rebuilt from the log, with the one command an operator runs.
    const before = { one: (await api.get(`/v1/transactions/${id}`)).body, list: (await api.get('/v1/transactions')).body };
    const cli = await runToExit('tools/projection/rebuild.ts', { WAYBILL_URL: waybill!.baseUrl, WAYBILL_ADMIN_KEY: ADMIN_KEY }, 60_000);
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: '' });
    expect({ one: (await api.get(`/v1/transactions/${id}`)).body, list: (await api.get('/v1/transactions')).body }).toEqual(before);

    const metrics = (await new ApiClient(waybill!.baseUrl).get('/metrics')).body as string;
    expect(metrics).toMatch(/^waybill_transactions\{status="ACCEPTED"\} 1$/m);
    expect(metrics).toMatch(/^waybill_consumer_lag_messages\{group="waybill\.status-projection\.v2",topic="waybill\.transaction-events"\} \d+$/m);
  });
});
