import { eventually } from '@waybill/testing';
import { Harness, startHarness } from './__fixtures__/harness';

jest.setTimeout(30_000);

/** The per-organisation rate limit (`WAYBILL_RATE_LIMIT`) of the public API, in one process. */
describe('rate limit per organisation', () => {
  const LIMIT = 10;
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ WAYBILL_RATE_LIMIT: String(LIMIT) });
  });
  afterAll(() => h?.stop());

  it('over the limit an organisation gets 429 problem+json with Retry-After; another organisation, /health and /metrics are not affected', async () => {
    const a = await h.organization('Over');
    const b = await h.organization('Other');
    const started = Date.now();
    const [overs, others, health, metrics] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, () => a.api.get('/v1/channels'))),
      Promise.all(Array.from({ length: 5 }, () => b.api.get('/v1/channels'))),
      Promise.all(Array.from({ length: 5 }, () => h.anonymous.get('/health/live'))),
      h.anonymous.get('/metrics'),
    ]);
    const elapsedS = (Date.now() - started) / 1000;

    const admitted = overs.filter((r) => r.status === 200);
    const limited = overs.filter((r) => r.status === 429);
    expect(admitted.length + limited.length).toBe(60);
    expect(limited.length).toBeGreaterThan(0);
    // A one-second sliding window: never more than the limit in any second.
    expect(admitted.length).toBeLessThanOrEqual(LIMIT * (Math.ceil(elapsedS) + 1));
    for (const res of limited) {
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(Number(res.headers['retry-after']))).toBe(true);
    }
    expect(others.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(health.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(metrics.status).toBe(200);

    // Once the window has moved on, the organisation is served again.
    await eventually(async () => (await a.api.get('/v1/channels')).status, (status) => status === 200, 5_000, 'served again');
  });

  it('a batch call counts as one request, however many transactions it holds', async () => {
    const { api } = await h.organization('Batcher');
    const channel = await api.post('/v1/channels', { name: 'Partner', url: 'http://127.0.0.1:4000/orders' });
    expect(channel.status).toBe(201);
    const rel = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);
    const batch = await api.post('/v1/transactions/batch', {
      transactions: Array.from({ length: 3 * LIMIT }, (_, i) => ({ relationshipId: rel.body.id, payload: { po: i } })),
    });
    expect(batch.status).toBe(202);
    expect(batch.body.data).toHaveLength(3 * LIMIT);
    // Three calls so far: the limit leaves room for the rest of it, whatever the time.
    const rest = await Promise.all(Array.from({ length: LIMIT - 3 }, () => api.get('/v1/relationships')));
    expect(rest.map((r) => r.status)).toEqual(Array.from({ length: LIMIT - 3 }, () => 200));
  });
});
