import { XMLValidator } from 'fast-xml-parser';
import { request } from 'undici';
import { ApiClient, PartnerReceiver } from '@waybill/testing';
import { channelWithRelationship, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

jest.setTimeout(60_000);

/** A payload nested `depth` levels deep: `[[…[1]…]]`. */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/**
 * A JSON payload reaches the partner exactly as it was sent (issue 10, items 3, 5, 8 and 12): the
 * same characters, numbers of any size and precision, `\u0000` inside strings; nesting is bounded;
 * idempotency compares payloads without loss; XML documents with a DOCTYPE are refused, and a
 * batch's XML envelope is well-formed whatever prolog its documents had.
 */
describe('payloads as sent (real PostgreSQL, Kafka and a real receiver)', () => {
  let waybill: Waybill;
  let receiver: PartnerReceiver;
  let api: ApiClient;
  let apiKey: string;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    waybill = await startWaybillInProcess();
    ({ api, apiKey } = await waybill.organization());
  });
  afterAll(async () => {
    await waybill?.stop();
    await receiver?.stop();
  });

  /** Sends `bodyText` as it is (not through JSON.stringify). */
  const sendText = (bodyText: string, headers: Record<string, string> = {}) => api.post('/v1/transactions', bodyText, headers);

  it('delivers a JSON payload character for character: big numbers, 1e400, \\u0000, a lone surrogate escape, spacing', async () => {
    const hook = '/exact';
    const { relationshipId } = await channelWithRelationship(api, receiver.url(hook));
    const payload = '{ "amount": 12345678901234567890123.45678901234567890, "huge": 1e400, "note": "a\\u0000b", "lone": "\\ud800", "list": [1.50 ,  -0.0] }';
    const res = await sendText(`{"relationshipId":${JSON.stringify(relationshipId)},"payload":${payload}}`);
    expect(res.status).toBe(202);
    await statusOf(api, res.body.id, 'ACCEPTED');
    const [delivered] = receiver.requestsTo(hook);
    expect(delivered.body.endsWith(`,"payload":${payload}}`)).toBe(true);
    expect(JSON.parse(delivered.body).payload.note).toBe('a\u0000b');
  });

  it('a pull channel hands out the payload as it was sent too', async () => {
    const channel = (await api.post('/v1/channels', { name: 'Queue', type: 'PULL' })).body;
    const rel = (await api.post('/v1/relationships', { senderId: 'EXACT', receiverId: 'PULL', transactionType: '850', channelId: channel.id })).body;
    const payload = '[12345678901234567890123, "\\u0000"]';
    expect((await sendText(`{"relationshipId":"${rel.id}","payload":${payload}}`)).status).toBe(202);
    // Read as text: a parsed reading of the answer would itself lose the big number.
    const res = await request(`${api.baseUrl}/v1/channels/${channel.id}/messages?limit=10`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    expect(text).toContain(`"payload":${payload}}`);
    expect(JSON.parse(text).data).toHaveLength(1);
  });

  it('accepts a payload nested 256 levels deep and refuses 257 (and 5,000) with 400 naming the payload', async () => {
    const { relationshipId } = await channelWithRelationship(api, receiver.url('/deep'));
    expect((await sendText(`{"relationshipId":"${relationshipId}","payload":${nested(256)}}`)).status).toBe(202);
    for (const depth of [257, 5_000]) {
      const res = await sendText(`{"relationshipId":"${relationshipId}","payload":${nested(depth)}}`);
      expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'body.payload', message: 'nests deeper than 256 levels' }] } });
    }
    // With an Idempotency-Key (whose body check walks the whole body) too, and in a batch.
    const keyed = await sendText(`{"relationshipId":"${relationshipId}","payload":${nested(4_000)}}`, { 'idempotency-key': 'deep-1' });
    expect(keyed.status).toBe(400);
    const batch = await api.post(
      '/v1/transactions/batch',
      `{"transactions":[{"relationshipId":"${relationshipId}","payload":1},{"relationshipId":"${relationshipId}","idempotencyKey":"deep-2","payload":${nested(5_000)}}]}`,
    );
    expect(batch.status).toBe(202);
    expect(batch.body.data[0].id).toBeDefined();
    expect(batch.body.data[1].error).toMatchObject({ status: 400, errors: [{ path: 'body.transactions[1].payload' }] });
  });

  it('an Idempotency-Key compares payloads without loss: …123 and …124 differ; key order and spacing do not', async () => {
    const { relationshipId } = await channelWithRelationship(api, receiver.url('/idem'));
    const first = await sendText(`{"relationshipId":"${relationshipId}","payload":{"n":12345678901234567890123,"m":1}}`, { 'idempotency-key': 'exact-1' });
    expect(first.status).toBe(202);
    const same = await sendText(`{ "payload" : { "m" : 1.0, "n" : 12345678901234567890123 }, "relationshipId" : "${relationshipId}" }`, { 'idempotency-key': 'exact-1' });
    expect(same).toMatchObject({ status: 200, body: { id: first.body.id } });
    const other = await sendText(`{"relationshipId":"${relationshipId}","payload":{"n":12345678901234567890124,"m":1}}`, { 'idempotency-key': 'exact-1' });
    expect(other).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });
  });

  it('refuses an XML document with a DOCTYPE (400), and sends a batch of XML documents in a well-formed envelope whatever their prologs', async () => {
    const hook = '/xml-batch';
    const { relationshipId } = await channelWithRelationship(api, receiver.url(hook), { format: 'XML', batch: { maxItems: 3, maxWaitMs: 200 } });
    const doctype = await api.post('/v1/transactions', { relationshipId, payload: '<!DOCTYPE Order [<!ENTITY x "y">]><Order>&x;</Order>' });
    expect(doctype).toMatchObject({ status: 400, body: { errors: [{ path: 'body.payload', message: expect.stringContaining('DOCTYPE') }] } });
    const docs = ['<?xml version="1.0"?>\n<!-- exported -->\n<Order><N>1</N></Order>', '<?xml version="1.0" encoding="UTF-8"?><?pi x?><Order><N>2</N></Order>', '<Order><N>3</N></Order>'];
    const batch = await api.post('/v1/transactions/batch', { transactions: docs.map((payload) => ({ relationshipId, payload })) });
    expect(batch.body.data.every((d: { id?: string }) => d.id)).toBe(true);
    const [request] = await receiver.waitFor(1, (r) => r.path === hook);
    expect(request.body).toBe('<TransactionList count="3"><Order><N>1</N></Order><Order><N>2</N></Order><Order><N>3</N></Order></TransactionList>');
    expect(XMLValidator.validate(request.body)).toBe(true);
  });
});
