import { PartnerReceiver, ReceivedRequest } from '@waybill/testing';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

jest.setTimeout(30_000);

/**
 * Batching channels, on the embedded transport (the single-process default): up to maxItems
 * transactions in one POST as the list envelope of API.md, flushed at maxItems or maxWaitMs; the
 * answer applies to every item; a batch keeps its id and items across retries.
 */
describe('dispatcher (embedded): batches', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  let n = 0;
  const path = () => `/batch-${++n}`;
  const itemsOf = (r: ReceivedRequest) => JSON.parse(r.body).items.map((i: { id: string }) => i.id);

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('embedded');
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it('JSON: maxItems transactions a request, as { batchId, count, items }, with the batch id as Idempotency-Key', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), batch: { maxItems: 5, maxWaitMs: 50 } });
    const ds = await h.sendMany(channel, 12);
    const outcomes = await h.events.outcomes(ds.map((d) => d.transactionId));
    expect(Object.values(outcomes)).toEqual(Array(12).fill('ACCEPTED'));
    const requests = receiver.requestsTo(hook);
    expect(requests.map((r) => JSON.parse(r.body).count)).toEqual([5, 5, 2]);
    expect(requests.flatMap(itemsOf)).toEqual(ds.map((d) => d.transactionId)); // in the order accepted
    for (const r of requests) {
      const body = JSON.parse(r.body);
      expect(body.batchId).toMatch(/^bat_/);
      expect(r.headers).toMatchObject({ 'idempotency-key': body.batchId, 'webhook-id': body.batchId, 'waybill-batch-id': body.batchId, 'waybill-attempt': '1' });
      expect(r.headers['waybill-transaction-id']).toBeUndefined();
      expect(body.items[0]).toMatchObject({ senderId: 'ACME', delivery: { attempt: 1 }, payload: expect.any(Object) });
    }
    const [attempt] = h.events.of('delivery.attempted.v1', (a) => a.transactionId === ds[0].transactionId);
    expect(attempt).toMatchObject({ attempt: 1, statusCode: 200, outcome: 'ACCEPTED' });
  });

  it('a batch that does not fill goes out after maxWaitMs', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), batch: { maxItems: 10, maxWaitMs: 100 } });
    const sentAt = Date.now();
    const ds = await h.sendMany(channel, 3);
    const [r] = await receiver.waitFor(1, (x) => x.path === hook);
    expect(r.at - sentAt).toBeGreaterThanOrEqual(90);
    expect(itemsOf(r)).toEqual(ds.map((d) => d.transactionId));
  });

  it('XML: the documents, without their XML declarations, inside <TransactionList count="n">', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), format: 'XML', batch: { maxItems: 3, maxWaitMs: 50 } });
    const docs = ['<?xml version="1.0" encoding="UTF-8"?>\n<Status><Id>1</Id></Status>', '<Status><Id>2</Id></Status>', '<?xml version="1.0"?><Status><Id>3</Id></Status>'];
    await h.send(...docs.map((d) => h.delivery(channel, d)));
    const [r] = await receiver.waitFor(1, (x) => x.path === hook);
    expect(r.headers['content-type']).toBe('application/xml');
    expect(r.body).toBe('<TransactionList count="3"><Status><Id>1</Id></Status><Status><Id>2</Id></Status><Status><Id>3</Id></Status></TransactionList>');
  });

  it('X12: the interchanges one after another', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), format: 'X12', batch: { maxItems: 2, maxWaitMs: 50 } });
    const a = 'ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *261120*1015*U*00401*000000001*0*P*>~IEA*0*000000001~\n';
    const b = 'ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *261120*1016*U*00401*000000002*0*P*>~IEA*0*000000002~\n';
    await h.send(h.delivery(channel, a), h.delivery(channel, b));
    const [r] = await receiver.waitFor(1, (x) => x.path === hook);
    expect(r.headers['content-type']).toBe('application/edi-x12');
    expect(r.body).toBe(a + b);
  });

  it('the answer applies to every item: a 400 rejects them all', async () => {
    const hook = path();
    receiver.always(hook, { status: 400 });
    const channel = await h.channel({ url: receiver.url(hook), batch: { maxItems: 4, maxWaitMs: 50 } });
    const ds = await h.sendMany(channel, 4);
    const outcomes = await h.events.outcomes(ds.map((d) => d.transactionId));
    expect(Object.values(outcomes)).toEqual(Array(4).fill('REJECTED'));
    expect(receiver.requestsTo(hook)).toHaveLength(1);
  });

  it('a batch keeps its id and its items across retries', async () => {
    const hook = path();
    receiver.script(hook, { status: 503 }, { status: 500 });
    const channel = await h.channel({ url: receiver.url(hook), batch: { maxItems: 3, maxWaitMs: 50 }, retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 100 } });
    const ds = await h.sendMany(channel, 3);
    const outcomes = await h.events.outcomes(ds.map((d) => d.transactionId));
    expect(Object.values(outcomes)).toEqual(Array(3).fill('ACCEPTED'));
    const requests = receiver.requestsTo(hook);
    expect(requests).toHaveLength(3);
    const ids = requests.map((r) => JSON.parse(r.body).batchId);
    expect(new Set(ids).size).toBe(1);
    expect(requests.map((r) => r.headers['idempotency-key'])).toEqual(ids);
    expect(requests.map((r) => r.headers['waybill-attempt'])).toEqual(['1', '2', '3']);
    for (const r of requests) expect(itemsOf(r)).toEqual(ds.map((d) => d.transactionId));
    expect(JSON.parse(requests[2].body).items[0].delivery.attempt).toBe(3);
  });

  it('a long maxWaitMs: the batch is gathered in the parked line, and still goes out full or on time', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), batch: { maxItems: 4, maxWaitMs: 600 } });
    const sentAt = Date.now();
    const ds = await h.sendMany(channel, 6);
    const outcomes = await h.events.outcomes(ds.map((d) => d.transactionId), 10_000);
    expect(Object.values(outcomes)).toEqual(Array(6).fill('ACCEPTED'));
    const requests = receiver.requestsTo(hook);
    expect(requests.map((r) => JSON.parse(r.body).count)).toEqual([4, 2]);
    expect(requests[1].at - sentAt).toBeGreaterThanOrEqual(550); // the rest waited maxWaitMs
    expect(requests.flatMap(itemsOf)).toEqual(ds.map((d) => d.transactionId));
  });
});
