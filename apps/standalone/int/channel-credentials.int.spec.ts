import { Kafka, logLevel } from 'kafkajs';
import { ApiClient, eventually, PartnerReceiver, testKafkaBrokers, uniqueName } from '@waybill/testing';
import { channelWithRelationship, send, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

jest.setTimeout(120_000);

/**
 * A channel's credentials stay with the destination they were given for, secret headers are
 * write-only and sealed, and credentials that would break every request are refused — with the
 * four services in one process on the test Kafka and PostgreSQL, and two real receivers on two
 * loopback addresses standing in for the partner (127.0.0.1) and for another host (127.0.0.2).
 */
describe('channel credentials', () => {
  let w: Waybill;
  let api: ApiClient;
  let partner: PartnerReceiver;
  let elsewhere: PartnerReceiver;

  beforeAll(async () => {
    partner = await PartnerReceiver.start('127.0.0.1');
    elsewhere = await PartnerReceiver.start('127.0.0.2');
    partner.always('/token', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: 'tok-1', expires_in: 3600 }) });
    elsewhere.always('/token', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: 'stolen', expires_in: 3600 }) });
    w = await startWaybillInProcess();
    ({ api } = await w.organization('Acme'));
  });
  afterAll(async () => {
    await w?.stop();
    await partner?.stop();
    await elsewhere?.stop();
  });

  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  describe('credentials follow no channel to another origin (item 2)', () => {
    it('BASIC: a url of another host without auth is 422 naming auth, the channel is unchanged, and the other host receives nothing', async () => {
      const ch = await api.post('/v1/channels', { name: 'Basic', url: partner.url('/basic'), auth: { type: 'BASIC', username: 'acme', password: 's3cret' } });
      const res = await api.patch(`/v1/channels/${ch.body.id}`, { url: elsewhere.url('/harvest') });
      expect(res.status).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'CREDENTIALS_REQUIRED', errors: [{ path: 'body.auth', message: expect.stringMatching(/another origin/) }] });
      expect((await api.get(`/v1/channels/${ch.body.id}`)).body.url).toBe(partner.url('/basic'));
      expect((await api.post(`/v1/channels/${ch.body.id}/test`)).body).toMatchObject({ statusCode: 200 });
      expect(partner.requestsTo('/basic').at(-1)?.headers.authorization).toBe(basic('acme', 's3cret'));
      expect(elsewhere.requestsTo('/harvest')).toEqual([]);
    });

    it('BASIC: the same origin keeps the credentials', async () => {
      const ch = await api.post('/v1/channels', { name: 'Basic 2', url: partner.url('/one'), auth: { type: 'BASIC', username: 'acme', password: 'k33p' } });
      expect((await api.patch(`/v1/channels/${ch.body.id}`, { url: partner.url('/two?x=1') })).status).toBe(200);
      await api.post(`/v1/channels/${ch.body.id}/test`);
      expect(partner.requestsTo('/two').at(-1)?.headers.authorization).toBe(basic('acme', 'k33p'));
    });

    it('BASIC: another origin with the credentials given again is accepted, and only those go there', async () => {
      const ch = await api.post('/v1/channels', { name: 'Basic 3', url: partner.url('/old'), auth: { type: 'BASIC', username: 'acme', password: 'old-pw' } });
      const moved = await api.patch(`/v1/channels/${ch.body.id}`, { url: elsewhere.url('/new'), auth: { type: 'BASIC', username: 'acme', password: 'new-pw' } });
      expect(moved.status).toBe(200);
      await api.post(`/v1/channels/${ch.body.id}/test`);
      expect(elsewhere.requestsTo('/new').map((r) => r.headers.authorization)).toEqual([basic('acme', 'new-pw')]);
    });

    it('OAuth2: a tokenUrl changed without the clientSecret is 422 naming auth; the new token URL receives nothing', async () => {
      const auth = { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: partner.url('/token'), clientId: 'waybill', clientSecret: 'client-s3cret' };
      const ch = await api.post('/v1/channels', { name: 'OAuth', url: partner.url('/oauth'), auth });
      const { clientSecret: _, ...withoutSecret } = auth;
      const res = await api.patch(`/v1/channels/${ch.body.id}`, { auth: { ...withoutSecret, tokenUrl: elsewhere.url('/token') } });
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'CREDENTIALS_REQUIRED', errors: [{ path: 'body.auth', message: expect.stringMatching(/clientSecret/) }] });
      expect((await api.get(`/v1/channels/${ch.body.id}`)).body.auth.tokenUrl).toBe(partner.url('/token'));
      expect((await api.post(`/v1/channels/${ch.body.id}/test`)).body).toMatchObject({ statusCode: 200 });
      expect(partner.requestsTo('/oauth').at(-1)?.headers.authorization).toBe('Bearer tok-1');
      expect(elsewhere.requestsTo('/token')).toEqual([]);
    });
  });

  describe('secret headers (item 15)', () => {
    const SECRET = 'k3y-0f-the-partner-0123456789';

    it('the receiver gets the header; GET never shows it; the event on waybill.channels and the stored row hold it sealed', async () => {
      const { channelId, relationshipId } = await channelWithRelationship(api, partner.url('/keyed'), {
        headers: { 'X-Partner': 'acme' },
        secretHeaders: { 'X-API-Key': SECRET },
      });
      const tx = await send(api, relationshipId);
      await statusOf(api, tx, 'ACCEPTED');
      const [got] = partner.requestsTo('/keyed');
      expect(got.headers).toMatchObject({ 'x-partner': 'acme', 'x-api-key': SECRET });

      const shown = await api.get(`/v1/channels/${channelId}`);
      expect(shown.body).toMatchObject({ headers: { 'X-Partner': 'acme' }, secretHeaders: ['X-API-Key'] });
      const listed = await api.get('/v1/channels?limit=100');
      for (const body of [JSON.stringify(shown.body), JSON.stringify(listed.body)]) {
        expect(body).not.toContain(SECRET);
        expect(body).not.toContain('enc:v1:');
      }

      const row = await w.db.query('SELECT state::text AS state FROM registry.channels WHERE id = $1', [channelId]);
      expect(row.rows[0].state).not.toContain(SECRET);
      expect(JSON.parse(row.rows[0].state).secretHeaders['X-API-Key']).toMatch(/^enc:v1:/);

      const events = await channelEvents(w.namespace, channelId);
      expect(events.length).toBeGreaterThan(0);
      for (const raw of events) expect(raw).not.toContain(SECRET);
      expect(JSON.parse(events.at(-1)!).data.secretHeaders['X-API-Key']).toMatch(/^enc:v1:/);
    });

    it('are bound to their origin like the credentials: another origin without them is 422 naming secretHeaders', async () => {
      const ch = await api.post('/v1/channels', { name: 'Keyed 2', url: partner.url('/keyed-2'), secretHeaders: { 'X-API-Key': SECRET } });
      const res = await api.patch(`/v1/channels/${ch.body.id}`, { url: elsewhere.url('/keyed-2') });
      expect(res).toMatchObject({ status: 422, body: { errors: [{ path: 'body.secretHeaders' }] } });
      await api.post(`/v1/channels/${ch.body.id}/test`);
      expect(partner.requestsTo('/keyed-2').at(-1)?.headers['x-api-key']).toBe(SECRET);
      expect(elsewhere.requestsTo('/keyed-2')).toEqual([]);
      expect((await api.patch(`/v1/channels/${ch.body.id}`, { url: elsewhere.url('/keyed-2'), secretHeaders: {} })).body.secretHeaders).toEqual([]);
    });
  });

  describe('credentials with control characters (item 11)', () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['a bearer token', { auth: { type: 'BEARER', token: 'a\r\nX-Evil: 1' } }, 'body.auth.token'],
      ['a basic password', { auth: { type: 'BASIC', username: 'u', password: 'a\r\nX-Evil: 1' } }, 'body.auth.password'],
      ['an OAuth2 client secret', { auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'http://127.0.0.1:9/t', clientId: 'c', clientSecret: 'a\u0000' } }, 'body.auth.clientSecret'],
      ['a header value', { headers: { 'X-Partner': 'a\r\nX-Evil: 1' } }, 'body.headers.X-Partner'],
      ['a secret header value', { secretHeaders: { 'X-API-Key': 'a\r\nX-Evil: 1' } }, 'body.secretHeaders.X-API-Key'],
    ])('%s is refused with 400 naming it, and nothing is stored', async (_, body, path) => {
      const before = (await api.get('/v1/channels?limit=100')).body.data.length;
      const res = await api.post('/v1/channels', { name: 'Evil', url: partner.url('/evil'), ...body });
      expect(res).toMatchObject({ status: 400, body: { errors: [{ path }] } });
      const ch = await api.post('/v1/channels', { name: 'Evil later', url: partner.url('/evil') });
      const changed = await api.patch(`/v1/channels/${ch.body.id}`, body);
      expect(changed).toMatchObject({ status: 400, body: { errors: [{ path }] } });
      expect((await api.get('/v1/channels?limit=100')).body.data.length).toBe(before + 1);
    });
  });
});

/** The raw values of every message on `waybill.channels` keyed by `channelId`, up to the topic's end now. */
async function channelEvents(namespace: string, channelId: string): Promise<string[]> {
  const kafka = new Kafka({ brokers: testKafkaBrokers(), clientId: 'channel-events-test', logLevel: logLevel.NOTHING });
  const topic = `${namespace}.waybill.channels`;
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const want = new Map(ends.map((p) => [p.partition, Number(p.high)]));
  const read = new Map<number, number>();
  const found: string[] = [];
  const consumer = kafka.consumer({ groupId: uniqueName('channel-events') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      read.set(partition, Number(message.offset) + 1);
      if (message.key?.toString() === channelId && message.value) found.push(message.value.toString());
    },
  });
  try {
    await eventually(async () => [...want].every(([p, high]) => high === 0 || (read.get(p) ?? 0) >= high), (done) => done, 30_000, 'the channel events read');
  } finally {
    await consumer.disconnect();
  }
  return found;
}
