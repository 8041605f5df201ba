import { createHmac } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';
import { ChannelState, DeliveryRequestedV1, DeliveryRequestedV2, payloadTextOf } from '@waybill/contracts';
import { buildAlertRequest, buildBatchRequest, renderBatchBody, testDelivery } from './partner-request';

const AT = '2030-01-01T00:00:00.000Z';
const NOW = new Date('2030-01-01T12:00:00.000Z');
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

function channel(over: Partial<ChannelState> = {}): ChannelState {
  return {
    id: 'ch_1', orgId: 'org_1', version: 1, name: 'Acme', type: 'HTTP', url: 'https://erp.acme.example/in', format: 'JSON', auth: { type: 'NONE' },
    signing: { enabled: false, secrets: [] }, headers: { 'X-Partner': 'acme' }, enabled: true, timeoutMs: 30_000,
    retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 }, batch: { maxItems: 50, maxWaitMs: 1_000 }, maxConcurrency: 10,
    visibilityTimeoutMs: 60_000, circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 }, createdAt: AT, updatedAt: AT,
    ...over,
  };
}

function delivery(i: number, format: DeliveryRequestedV1['format'] = 'JSON', payload: unknown = { po: i }): DeliveryRequestedV1 {
  return {
    deliveryId: `dl_${i}`, transactionId: `tx_${i}`, channelId: 'ch_1', generation: 1, format,
    transaction: { id: `tx_${i}`, relationshipId: 'rel_1', senderId: 'acme', receiverId: 'globex', transactionType: '850', businessNumber: null, stream: 'LIVE', createdAt: AT },
    payload,
  };
}

describe('batches: the list envelope of API.md', () => {
  it('JSON: { batchId, count, items } of the single bodies, each with the batch attempt', () => {
    const body = JSON.parse(renderBatchBody('JSON', 'bat_1', [delivery(1), delivery(2)], 3));
    expect(body).toEqual({
      batchId: 'bat_1',
      count: 2,
      items: [1, 2].map((i) => ({
        id: `tx_${i}`, relationshipId: 'rel_1', senderId: 'acme', receiverId: 'globex', transactionType: '850', businessNumber: null, stream: 'LIVE',
        createdAt: AT, delivery: { id: `dl_${i}`, attempt: 3 }, payload: { po: i },
      })),
    });
  });

  it('XML: each document without its declaration (and byte-order mark), inside <TransactionList count="n">', () => {
    const docs = ['\uFEFF<?xml version="1.0" encoding="UTF-8"?>\r\n<A>1</A>', "<?xml version='1.0'?><B/>", '<C>3</C>'];
    expect(renderBatchBody('XML', 'bat_1', docs.map((d, i) => delivery(i, 'XML', d)), 1)).toBe('<TransactionList count="3"><A>1</A><B/><C>3</C></TransactionList>');
  });

  it('XML: a well-formed envelope whatever prolog each document had (comments, processing instructions, a document type)', () => {
    const docs = [
      '<?xml version="1.0"?>\n<!-- exported 2030-01-01 -->\n<?xml-stylesheet href="a.xsl"?>\n<Order><N>1</N></Order>',
      '<!DOCTYPE Invoice [ <!ELEMENT Invoice (#PCDATA)> ]>\n<Invoice>2</Invoice>',
      '<!doctype Note SYSTEM "note.dtd"><Note>3</Note>',
      '<Plain a="1"/>',
    ];
    const body = renderBatchBody('XML', 'bat_1', docs.map((d, i) => delivery(i, 'XML', d)), 1);
    expect(body).toBe('<TransactionList count="4"><Order><N>1</N></Order><Invoice>2</Invoice><Note>3</Note><Plain a="1"/></TransactionList>');
    expect(XMLValidator.validate(body)).toBe(true);
  });

  it('JSON: a payload sent as text reaches the partner as that text, numbers of any size and escapes included', () => {
    const payloadText = '{ "n": 12345678901234567890123, "x": 1e400, "s": "a\\u0000b", "lone": "\\ud800" }';
    const v2: DeliveryRequestedV2 = { ...(({ payload: _, ...rest }) => rest)(delivery(1)), payloadText };
    const body = renderBatchBody('JSON', 'bat_1', [v2], 1);
    expect(body).toContain(`,"payload":${payloadText}}`);
    expect(JSON.parse(body).items[0].payload.s).toBe('a\u0000b');
  });

  it('X12: the interchanges one after another, as they are', () => {
    const a = 'ISA*00*…*1*0*P*>~IEA*0*000000001~\n';
    const b = 'ISA*00*…*2*0*P*>~IEA*0*000000002~';
    expect(renderBatchBody('X12', 'bat_1', [delivery(1, 'X12', a), delivery(2, 'X12', b)], 1)).toBe(a + b);
  });

  it('the request carries the batch id as Idempotency-Key, webhook-id and Waybill-Batch-Id, and is signed over it', () => {
    const c = channel({ signing: { enabled: true, secrets: [] } });
    const req = buildBatchRequest(c, 'bat_1', [delivery(1), delivery(2)], 2, { authorization: 'Bearer t', signingSecrets: [SECRET] }, NOW);
    expect(req.url).toBe('https://erp.acme.example/in');
    expect(req.headers).toMatchObject({
      'content-type': 'application/json', 'idempotency-key': 'bat_1', 'webhook-id': 'bat_1', 'waybill-batch-id': 'bat_1', 'waybill-attempt': '2',
      authorization: 'Bearer t', 'X-Partner': 'acme',
    });
    expect(req.headers).not.toHaveProperty('waybill-transaction-id');
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const ts = req.headers['webhook-timestamp'];
    expect(req.headers['webhook-signature']).toBe(`v1,${createHmac('sha256', key).update(`bat_1.${ts}.${req.body}`).digest('base64')}`);
  });

  it('an alert is sent as the event itself, keyed by its event id', () => {
    const alert = { eventId: '0191e0b0-0000-7000-8000-000000000001', type: 'channel.circuit-opened.v1', orgId: 'org_1', key: 'ch_1', occurredAt: AT, data: { channelId: 'ch_1' } };
    const req = buildAlertRequest(channel(), alert, { authorization: null, signingSecrets: [] }, NOW);
    expect(JSON.parse(req.body)).toEqual(alert);
    expect(req.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': alert.eventId, 'webhook-id': alert.eventId, 'waybill-event-type': 'channel.circuit-opened.v1' });
  });

  it.each(['JSON', 'XML', 'X12'] as const)('a test delivery in %s is a transaction of the TEST stream in that format', (format) => {
    const d = testDelivery(channel({ format }), 'abc', NOW);
    expect(d).toMatchObject({ format, transactionId: 'test_abc', transaction: { stream: 'TEST' } });
    if (format === 'X12') expect(payloadTextOf(d)).toMatch(/^ISA\*.{101}~IEA\*0\*000000001~$/);
    if (format === 'XML') expect(payloadTextOf(d)).toMatch(/^<WaybillTest>/);
  });
});
