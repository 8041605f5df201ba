import { createHmac } from 'node:crypto';
import { PartnerReceiver } from '@waybill/testing';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

/**
 * The delivery rules of ARCHITECTURE.md against a real partner (an HTTP receiver answering by
 * script), through the real dispatcher on the real Kafka broker: every row of the status table,
 * what the partner's endpoint receives, and the retry policies.
 */
describe('dispatcher (Kafka): each partner answer, and what the partner receives', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  let n = 0;
  const path = () => `/hook-${++n}`;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('kafka');
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it.each([
    [200, 'ACCEPTED'],
    [201, 'ACCEPTED'],
    [204, 'ACCEPTED'],
    [202, 'DISPATCHED'],
    [400, 'REJECTED'],
    [401, 'FAILED'],
    [404, 'FAILED'],
    [409, 'FAILED'],
    [301, 'FAILED'],
    [302, 'FAILED'],
  ] as const)('a partner answering %i: one attempt, the transaction %s, and no terminal event beside the attempt', async (status, outcome) => {
    const hook = path();
    receiver.always(hook, { status, headers: status >= 300 && status < 400 ? { location: receiver.url('/elsewhere') } : {} });
    const channel = await h.channel({ url: receiver.url(hook) });
    const [d] = await h.sendMany(channel, 1);
    const outcomes = await h.events.outcomes([d.transactionId]);
    expect(outcomes[d.transactionId]).toBe(outcome);
    const attempts = h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId);
    expect(attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: status, outcome, deliveryId: d.deliveryId, channelId: channel.id })]);
    const terminals = (['transaction.accepted.v1', 'transaction.dispatched.v1', 'transaction.rejected.v1', 'transaction.failed.v1'] as const).flatMap((type) =>
      h.events.of(type, (e) => e.transactionId === d.transactionId),
    );
    expect(terminals).toEqual([]); // the attempt says it: one event per delivery
    expect(receiver.requestsTo(hook)).toHaveLength(1);
    expect(receiver.requestsTo('/elsewhere')).toHaveLength(0); // redirects are never followed
  });

  it.each([
    ['429', { status: 429 }],
    ['500', { status: 500 }],
    ['503', { status: 503 }],
    ['no answer within the timeout', { hang: true as const }],
    ['a reset connection', { reset: true as const }],
  ])('%s is retried by the policy (fixed: 2 retries), then FAILED with a delivery.exhausted alert', async (_, answer) => {
    const hook = path();
    receiver.always(hook, answer);
    const channel = await h.channel({ url: receiver.url(hook), timeoutMs: 300, retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 100 } });
    const [d] = await h.sendMany(channel, 1);
    const outcomes = await h.events.outcomes([d.transactionId], 20_000);
    expect(outcomes[d.transactionId]).toBe('FAILED');
    const attempts = h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId);
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'RETRYABLE'],
      [2, 'RETRYABLE'],
      [3, 'RETRYABLE'],
    ]);
    expect(h.events.of('delivery.retry-scheduled.v1', (r) => r.transactionId === d.transactionId).map((r) => r.attempt)).toEqual([2, 3]);
    const [alert] = await h.events.waitForType('delivery.exhausted.v1', 1, (a) => a.transactionId === d.transactionId);
    expect(alert).toMatchObject({ channelId: channel.id, deliveryId: d.deliveryId, attempts: 3 });
    expect(receiver.requestsTo(hook).map((r) => r.headers['waybill-attempt'])).toEqual(['1', '2', '3']);
  });

  it('a retryable failure followed by a 200 ends ACCEPTED; the retry waits as long as Retry-After asks', async () => {
    const hook = path();
    receiver.script(hook, { status: 503, headers: { 'retry-after': '1' } }, { status: 200 });
    const channel = await h.channel({ url: receiver.url(hook), retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 100 } });
    const [d] = await h.sendMany(channel, 1);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('ACCEPTED');
    const [first, second] = receiver.requestsTo(hook);
    expect(second.at - first.at).toBeGreaterThanOrEqual(950);
    expect(second.headers['idempotency-key']).toBe(d.transactionId); // the same key on every try
  });

  it('the exponential policy retries with backoff until its maximum duration, then FAILED', async () => {
    const hook = path();
    receiver.always(hook, { status: 500 });
    const channel = await h.channel({
      url: receiver.url(hook),
      retryPolicy: { strategy: 'exponential', initialDelayMs: 100, factor: 2, maxDelayMs: 400, maxDurationMs: 1_500 },
    });
    const [d] = await h.sendMany(channel, 1);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('FAILED');
    const requests = receiver.requestsTo(hook);
    expect(requests.length).toBeGreaterThanOrEqual(3);
    expect(requests[requests.length - 1].at - requests[0].at).toBeLessThanOrEqual(1_500);
    await h.events.waitForType('delivery.exhausted.v1', 1, (a) => a.transactionId === d.transactionId);
  });

  it('the partner receives the headers and the JSON envelope of API.md, signed, with its auth and static headers', async () => {
    const hook = path();
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const channel = await h.channel({
      url: receiver.url(hook),
      auth: { type: 'BASIC', username: 'acme', password: h.encrypt('s3cret') },
      signing: { enabled: true, secrets: [{ secret: h.encrypt(secret), createdAt: new Date().toISOString(), expiresAt: null }] },
      headers: { 'X-Partner': 'acme' },
    });
    const d = h.delivery(channel, { purchaseOrderNumber: 'PO-9', lines: [{ sku: 'A', qty: 2 }] });
    await h.send(d);
    const [req] = await receiver.waitFor(1, (r) => r.path === hook);
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': d.transactionId,
      'webhook-id': d.transactionId,
      'waybill-transaction-id': d.transactionId,
      'waybill-delivery-id': d.deliveryId,
      'waybill-attempt': '1',
      authorization: `Basic ${Buffer.from('acme:s3cret').toString('base64')}`,
      'x-partner': 'acme',
    });
    expect(req.headers['user-agent']).toMatch(/^Waybill\//);
    expect(JSON.parse(req.body)).toEqual({
      id: d.transactionId,
      relationshipId: d.transaction.relationshipId,
      senderId: 'ACME',
      receiverId: 'GLOBEX',
      transactionType: '850',
      businessNumber: 'PO-1',
      stream: 'LIVE',
      createdAt: d.transaction.createdAt,
      delivery: { id: d.deliveryId, attempt: 1 },
      payload: { purchaseOrderNumber: 'PO-9', lines: [{ sku: 'A', qty: 2 }] },
    });
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const expected = createHmac('sha256', key).update(`${d.transactionId}.${req.headers['webhook-timestamp']}.${req.body}`).digest('base64');
    expect(req.headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('a Bearer channel sends its token; XML and X12 are sent as the documents themselves', async () => {
    const xmlHook = path();
    const x12Hook = path();
    const xml = await h.channel({ url: receiver.url(xmlHook), format: 'XML', auth: { type: 'BEARER', token: h.encrypt('t0ken') } });
    const x12 = await h.channel({ url: receiver.url(x12Hook), format: 'X12' });
    const doc = '<?xml version="1.0"?><Order><Number>PO-1</Number></Order>';
    const interchange = 'ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *261120*1015*U*00401*000004233*0*P*>~IEA*0*000004233~';
    await h.send(h.delivery(xml, doc), h.delivery(x12, interchange));
    const [x] = await receiver.waitFor(1, (r) => r.path === xmlHook);
    expect(x.headers).toMatchObject({ authorization: 'Bearer t0ken', 'content-type': 'application/xml' });
    expect(x.body).toBe(doc);
    const [e] = await receiver.waitFor(1, (r) => r.path === x12Hook);
    expect(e.headers['content-type']).toBe('application/edi-x12');
    expect(e.body).toBe(interchange);
  });

  it("keeps the first KiB of the partner's answer with the attempt", async () => {
    const hook = path();
    receiver.always(hook, { status: 400, body: 'x'.repeat(5_000) });
    const channel = await h.channel({ url: receiver.url(hook) });
    const [d] = await h.sendMany(channel, 1);
    await h.events.outcomes([d.transactionId]);
    const [attempt] = h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId);
    expect(attempt.responseExcerpt).toBe('x'.repeat(1024));
  });

  it('a change of the channel applies to the next attempt: a partner that fixed its URL needs nothing redelivered', async () => {
    const broken = path();
    const fixed = path();
    receiver.always(broken, { status: 503 });
    const channel = await h.channel({ url: receiver.url(broken), retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 1_000 } });
    const [d] = await h.sendMany(channel, 1);
    await receiver.waitFor(1, (r) => r.path === broken);
    await h.channel({ url: receiver.url(fixed) }, channel);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('ACCEPTED');
    expect(receiver.requestsTo(fixed)).toHaveLength(1);
    expect(receiver.requestsTo(fixed)[0].headers['waybill-attempt']).toBe('2');
  });
});

describe('dispatcher (embedded), private targets refused: the SSRF guard at connect time', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    h = await DispatcherHarness.start('embedded', {}, true, { WAYBILL_ALLOW_PRIVATE_TARGETS: 'false' });
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it('a loopback destination is refused at connect time, before any request: FAILED, not retried, the breaker untouched', async () => {
    // What a name rebound to 127.0.0.1 after the registry checked it comes to at connect time.
    const channel = await h.channel({ url: receiver.url('/internal'), circuitBreaker: { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeoutMs: 60_000 } });
    const [d] = await h.sendMany(channel, 1);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('FAILED');
    const [attempt] = h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId);
    expect(attempt).toMatchObject({ outcome: 'FAILED', statusCode: null, error: expect.stringMatching(/destination refused/) });
    expect(receiver.requestsTo('/internal')).toHaveLength(0);
    expect((await h.api.get(`/v1/channels/${channel.id}/health`)).body.circuit).toBe('CLOSED');
    const test = await h.api.post(`/v1/channels/${channel.id}/test`);
    expect(test.body).toMatchObject({ statusCode: null, outcome: 'FAILED', error: expect.stringMatching(/destination refused/) });
  });
});
