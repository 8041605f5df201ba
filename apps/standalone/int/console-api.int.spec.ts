import { eventually, PartnerReceiver } from '@waybill/testing';
import { channelWithRelationship, send, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

/**
 * What the web console reads beyond the seeds' API, over real Kafka and PostgreSQL with a real
 * partner receiver: the caller's organisation, the dashboard's figures, the channels whose
 * circuit is open, the sweep's dry run, a peek at a pull queue, and what was sent (no secret).
 */
jest.setTimeout(40_000);

describe('console API: the figures and views a console needs (Kafka)', () => {
  let waybill: Waybill;
  let receiver: PartnerReceiver;
  const NO_RETRY = { retryPolicy: { strategy: 'fixed', maxRetries: 0, delayMs: 100 } };

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    receiver.always('/ok', { status: 200, body: 'thanks' });
    receiver.always('/reject', { status: 400, body: 'bad order' });
    receiver.always('/down', { status: 500, body: 'down' });
    receiver.always('/gone', { status: 404, body: 'no such endpoint' });
    waybill = await startWaybillInProcess();
  });

  afterAll(async () => {
    await waybill?.stop();
    await receiver?.stop();
  });

  it('GET /v1/organization names the caller’s organisation and key (prefix only), and no one else’s', async () => {
    const acme = await waybill.organization('Acme Retail');
    const globex = await waybill.organization('Globex');
    const res = await acme.api.get('/v1/organization');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: acme.id, name: 'Acme Retail', apiKey: { prefix: expect.any(String) } });
    expect(acme.apiKey.startsWith(res.body.apiKey.prefix)).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain(acme.apiKey);
    expect((await globex.api.get('/v1/organization')).body.name).toBe('Globex');
    expect((await waybill.anonymous.get('/v1/organization')).status).toBe(401);
  });

  it('GET /v1/stats/transactions counts the organisation’s transactions by status', async () => {
    const { api } = await waybill.organization();
    const other = await waybill.organization();
    const ok = await channelWithRelationship(api, receiver.url('/ok'));
    const reject = await channelWithRelationship(api, receiver.url('/reject'));
    const ids = [await send(api, ok.relationshipId), await send(api, ok.relationshipId), await send(api, reject.relationshipId)];
    await statusOf(api, ids[0], 'ACCEPTED');
    await statusOf(api, ids[1], 'ACCEPTED');
    await statusOf(api, ids[2], 'REJECTED');
    const res = await api.get('/v1/stats/transactions');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ PENDING: 0, SENDING: 0, ACCEPTED: 2, DISPATCHED: 0, REJECTED: 1, FAILED: 0, total: 3 });
    expect((await other.api.get('/v1/stats/transactions')).body.total).toBe(0);
  });

  it('GET /v1/stats/deliveries counts attempts per minute and outcome, every bucket present', async () => {
    const { api } = await waybill.organization();
    const ok = await channelWithRelationship(api, receiver.url('/ok'));
    const down = await channelWithRelationship(api, receiver.url('/down'), { retryPolicy: { strategy: 'fixed', maxRetries: 1, delayMs: 100 } });
    const a = await send(api, ok.relationshipId);
    const b = await send(api, down.relationshipId);
    await statusOf(api, a, 'ACCEPTED');
    await statusOf(api, b, 'FAILED');

    const res = await api.get('/v1/stats/deliveries?bucket=1m');
    expect(res.status).toBe(200);
    expect(res.body.bucket).toBe('1m');
    expect(res.body.data.length).toBeGreaterThanOrEqual(60);
    const sum = (o: string) => res.body.data.reduce((n: number, d: any) => n + d[o], 0);
    expect([sum('ACCEPTED'), sum('RETRYABLE'), sum('FAILED'), sum('REJECTED'), sum('DISPATCHED')]).toEqual([1, 2, 0, 0, 0]);
    const times = res.body.data.map((d: any) => Date.parse(d.at));
    expect(times.every((t: number, i: number) => i === 0 || t - times[i - 1] === 60_000)).toBe(true);

    const hourly = await api.get('/v1/stats/deliveries?bucket=1h');
    expect(hourly.body.data.length).toBeGreaterThanOrEqual(24);
    expect(hourly.body.data.reduce((n: number, d: any) => n + d.ACCEPTED + d.RETRYABLE, 0)).toBe(3);
  });

  it('GET /v1/stats/deliveries refuses a bad bucket or an unbounded range with a 400 naming the field', async () => {
    const { api } = await waybill.organization();
    const cases: [string, string][] = [
      ['?bucket=5m', 'query.bucket'],
      ['?from=yesterday', 'query.from'],
      ['?bucket=1m&from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z', 'query.from'],
      ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'query.from'],
      ['?extra=1', 'query'],
    ];
    for (const [query, path] of cases) {
      const res = await api.get(`/v1/stats/deliveries${query}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body.errors.map((e: any) => e.path)).toContain(path);
    }
  });

  it('the sweep’s dry run counts what it would redeliver and changes nothing', async () => {
    const { api } = await waybill.organization();
    const gone = await channelWithRelationship(api, receiver.url('/gone'), NO_RETRY);
    const ids = [await send(api, gone.relationshipId), await send(api, gone.relationshipId)];
    for (const id of ids) await statusOf(api, id, 'FAILED');
    const sent = receiver.requestsTo('/gone').length;

    const dry = await api.post('/v1/transactions/redeliver', { status: 'FAILED', dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ count: 2, dryRun: true });
    expect((await api.post('/v1/transactions/redeliver', { status: 'FAILED', channelId: 'ch_other', dryRun: true })).body.count).toBe(0);
    for (const id of ids) expect((await api.get(`/v1/transactions/${id}`)).body.status).toBe('FAILED');
    expect(receiver.requestsTo('/gone')).toHaveLength(sent);

    const swept = await api.post('/v1/transactions/redeliver', { status: 'FAILED' });
    expect(swept).toMatchObject({ status: 202, body: { count: 2 } });
    await receiver.waitFor(sent + 2, (r) => r.path === '/gone');
  });

  it('GET /v1/channel-health lists the channels whose circuit is open, in one call', async () => {
    const { api } = await waybill.organization();
    const breaker = { circuitBreaker: { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeoutMs: 60_000 }, ...NO_RETRY };
    const down = await channelWithRelationship(api, receiver.url('/down'), breaker);
    const ok = await channelWithRelationship(api, receiver.url('/ok'), breaker);
    await statusOf(api, await send(api, ok.relationshipId), 'ACCEPTED');
    await statusOf(api, await send(api, down.relationshipId), 'FAILED');

    const open = await eventually(
      async () => (await api.get('/v1/channel-health')).body,
      (b) => b?.data?.length === 1,
      10_000,
      'one open circuit',
    );
    expect(open.data[0]).toMatchObject({ channelId: down.channelId, circuit: 'OPEN', lastOutcomes: [expect.objectContaining({ statusCode: 500 })] });
    expect((await api.get('/v1/channel-health?circuit=CLOSED')).body.data.map((h: any) => h.channelId)).not.toContain(down.channelId);
    expect((await api.get('/v1/channel-health?circuit=SHUT')).status).toBe(400);
    const other = await waybill.organization();
    expect((await other.api.get('/v1/channel-health')).body.data).toEqual([]);
  });

  it('a pull channel’s waiting messages can be looked at without leasing them', async () => {
    const { api } = await waybill.organization();
    const ch = await api.post('/v1/channels', { name: 'Store queue', type: 'PULL' });
    const rel = await api.post('/v1/relationships', { senderId: 'STORE', receiverId: 'HUB', transactionType: '850', channelId: ch.body.id });
    const ids = [await send(api, rel.body.id, { n: 1 }), await send(api, rel.body.id, { n: 2 })];

    const peeked = await eventually(
      async () => (await api.get(`/v1/channels/${ch.body.id}/messages/pending`)).body,
      (b) => b?.data?.length === 2,
      10_000,
      'two queued messages',
    );
    expect(peeked.data.map((m: any) => [m.transactionId, m.attempts, m.leasedUntil])).toEqual([
      [ids[0], 0, null],
      [ids[1], 0, null],
    ]);
    // Looking leased nothing: the partner still gets both, as first attempts.
    const leased = await api.get(`/v1/channels/${ch.body.id}/messages?limit=10`);
    expect(leased.body.data.map((m: any) => [m.transactionId, m.attempt])).toEqual([
      [ids[0], 1],
      [ids[1], 1],
    ]);
    const after = (await api.get(`/v1/channels/${ch.body.id}/messages/pending`)).body.data;
    expect(after.every((m: any) => m.leasedUntil !== null && m.attempts === 1)).toBe(true);

    const push = await channelWithRelationship(api, receiver.url('/ok'));
    expect((await api.get(`/v1/channels/${push.channelId}/messages/pending`)).status).toBe(409);
  });

  it('GET /v1/transactions/{id}/request shows the payload and the request the partner got, with no secret in it', async () => {
    const { api } = await waybill.organization();
    const { relationshipId, channelId } = await channelWithRelationship(api, receiver.url('/ok'), {
      auth: { type: 'BASIC', username: 'acme', password: 'p4ssw0rd-secret' },
      signing: { enabled: true },
      headers: { 'X-Partner': 'acme', 'X-Api-Key': 'static-key-secret' },
    });
    const payload = '{"purchaseOrderNumber":"PO-7","lines":[{"sku":"A-1","qty":3}]}';
    const tx = await api.post('/v1/transactions', `{"relationshipId":"${relationshipId}","payload":${payload}}`);
    expect(tx.status).toBe(202);
    const done = await statusOf(api, tx.body.id, 'ACCEPTED');
    const [attempt] = done.attempts;
    const [received] = receiver.requestsTo('/ok').filter((r) => r.headers['waybill-transaction-id'] === tx.body.id);

    const res = await api.get(`/v1/transactions/${tx.body.id}/request?deliveryId=${attempt.deliveryId}&attempt=${attempt.attempt}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ transactionId: tx.body.id, format: 'JSON', contentType: 'application/json', payload });
    expect(res.body.request.url).toBe(receiver.url('/ok'));
    expect(res.body.request.body).toBe(received.body);
    for (const h of res.body.request.headers as { name: string; value: string; redacted: boolean }[]) {
      if (h.name === 'webhook-timestamp') continue;
      if (!h.redacted) expect([h.name, received.headers[h.name.toLowerCase()]]).toEqual([h.name, h.value]);
      else expect(received.headers[h.name.toLowerCase()]).toBeDefined();
    }
    expect(res.body.request.headers.filter((h: any) => h.redacted).map((h: any) => h.name).sort()).toEqual(['X-Api-Key', 'authorization', 'webhook-signature']);
    const text = JSON.stringify(res.body);
    const secret = (await api.get(`/v1/channels/${channelId}/signing-secret`)).body.secret;
    for (const s of ['p4ssw0rd-secret', 'static-key-secret', secret, Buffer.from('acme:p4ssw0rd-secret').toString('base64'), received.headers['webhook-signature']]) {
      expect(text).not.toContain(s);
    }

    expect((await api.get(`/v1/transactions/${tx.body.id}/request?attempt=1`)).status).toBe(400);
    expect((await api.get('/v1/transactions/tx_missing/request')).status).toBe(404);
    const other = await waybill.organization();
    expect((await other.api.get(`/v1/transactions/${tx.body.id}/request`)).status).toBe(404);
  });
});
