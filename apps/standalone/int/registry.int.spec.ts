import { ChannelState } from '@waybill/contracts';
import { ApiClient, eventually } from '@waybill/testing';
import { SecretBox } from '@waybill/security';
import { RegistryAnswers } from '@waybill/channel-registry';

const { ChannelResponse, SettingsResponse } = RegistryAnswers;
import { ADMIN_KEY, Harness, startHarness } from './__fixtures__/harness';

jest.setTimeout(30_000);

/** The registry over real PostgreSQL and Kafka: organisations, keys, channels, signing, settings, deletes. */
describe('channel registry', () => {
  let h: Harness;
  let api: ApiClient;
  let orgId: string;

  beforeAll(async () => {
    h = await startHarness();
    ({ api, id: orgId } = await h.organization('Acme'));
  });
  afterAll(() => h?.stop());

  const channel = async (body: Record<string, unknown> = {}) => {
    const res = await api.post('/v1/channels', { name: 'Acme ERP', url: 'http://127.0.0.1:4000/orders', ...body });
    expect(res.status).toBe(201);
    return res.body;
  };
  const stateOf = async (id: string): Promise<ChannelState> =>
    (await h.db.query('SELECT state FROM registry.channels WHERE id = $1', [id])).rows[0].state;

  describe('organisations and API keys', () => {
    it('creates an organisation with the admin key only, and shows its key once', async () => {
      expect((await h.anonymous.post('/v1/organizations', { name: 'X' })).status).toBe(401);
      expect((await new ApiClient(h.service.url, `${ADMIN_KEY}-wrong`).post('/v1/organizations', { name: 'X' })).status).toBe(401);
      expect((await api.post('/v1/organizations', { name: 'X' })).status).toBe(401); // an organisation key is not the admin key
      const org = await h.admin.post('/v1/organizations', { name: ' Globex ' });
      expect(org.status).toBe(201);
      expect(org.body).toEqual({ id: expect.stringMatching(/^org_/), name: 'Globex', apiKey: expect.stringMatching(/^wb_/), createdAt: expect.any(String) });
      const stored = await h.db.query('SELECT key_hash FROM registry.api_keys WHERE org_id = $1', [org.body.id]);
      expect(JSON.stringify(stored.rows)).not.toContain(org.body.apiKey);
    });

    it('lists keys without the key, issues one that works at once, keeps lastUsedAt, and revokes', async () => {
      const issued = await api.post('/v1/api-keys');
      expect(issued.status).toBe(201);
      expect(issued.body).toEqual({ id: expect.stringMatching(/^key_/), apiKey: expect.stringMatching(/^wb_/), prefix: issued.body.apiKey.slice(0, 10), createdAt: expect.any(String) });
      const fresh = new ApiClient(h.service.url, issued.body.apiKey);
      expect((await fresh.get('/v1/channels')).status).toBe(200);

      const listed = await api.get('/v1/api-keys');
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).not.toContain(issued.body.apiKey);
      const mine = listed.body.data.find((k: { id: string }) => k.id === issued.body.id);
      expect(mine).toEqual({ id: issued.body.id, prefix: issued.body.prefix, createdAt: issued.body.createdAt, lastUsedAt: expect.any(String) });
      expect(Date.parse(mine.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(issued.body.createdAt));
      expect(listed.body.data[0].id).toBe(issued.body.id); // newest first

      const page = await api.get('/v1/api-keys?limit=1');
      expect(page.body.data).toHaveLength(1);
      expect(page.body.nextCursor).toEqual(expect.any(String));
      const next = await api.get(`/v1/api-keys?limit=1&cursor=${page.body.nextCursor}`);
      expect(next.body.data[0].id).not.toBe(page.body.data[0].id);

      const revokedAt = Date.now();
      expect((await api.delete(`/v1/api-keys/${issued.body.id}`)).status).toBe(204);
      await eventually(() => fresh.get('/v1/channels'), (r) => r.status === 401, 1_000, 'revoked key refused');
      expect(Date.now() - revokedAt).toBeLessThan(1_000);
      expect((await api.get('/v1/api-keys')).body.data.map((k: { id: string }) => k.id)).not.toContain(issued.body.id);
      expect((await api.delete(`/v1/api-keys/${issued.body.id}`)).status).toBe(404);
    });

    it('records lastUsedAt in batches, not a write per request', async () => {
      const issued = (await api.post('/v1/api-keys')).body;
      const fresh = new ApiClient(h.service.url, issued.apiKey);
      await Promise.all(Array.from({ length: 20 }, () => fresh.get('/v1/settings')));
      const row = async () => (await h.db.query('SELECT last_used_at FROM registry.api_keys WHERE id = $1', [issued.id])).rows[0].last_used_at;
      const used = await eventually(row, (v) => v !== null, 3_000, 'lastUsedAt written');
      expect(used).toBeInstanceOf(Date);
    });

    it('answers 401 without a key or with an unknown one, and 404 for another organisation’s ids', async () => {
      expect((await h.anonymous.get('/v1/channels')).status).toBe(401);
      expect((await new ApiClient(h.service.url, 'wb_not-a-key').get('/v1/channels')).status).toBe(401);
      const other = await h.organization('Other');
      const theirs = (await other.api.post('/v1/channels', { name: 'Theirs', type: 'PULL' })).body;
      const theirKey = (await other.api.get('/v1/api-keys')).body.data[0];
      for (const res of [
        await api.get(`/v1/channels/${theirs.id}`),
        await api.patch(`/v1/channels/${theirs.id}`, { name: 'Mine now' }),
        await api.delete(`/v1/channels/${theirs.id}`),
        await api.get(`/v1/channels/${theirs.id}/signing-secret`),
        await api.delete(`/v1/api-keys/${theirKey.id}`),
        await api.put('/v1/settings/default-inbound-channel', { channelId: theirs.id }),
        await api.post('/v1/relationships', { senderId: 'A', receiverId: 'B', transactionType: 'X', channelId: theirs.id }),
      ]) {
        expect(res.status).toBe(404);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }
      expect((await api.get('/v1/channels?limit=100')).body.data.map((c: { id: string }) => c.id)).not.toContain(theirs.id);
      expect((await other.api.get(`/v1/channels/${theirs.id}`)).body.name).toBe('Theirs');
    });
  });

  describe('channels', () => {
    it('applies every default and answers the effective values', async () => {
      const c = await channel();
      expect(ChannelResponse.parse(c)).toEqual(c);
      expect(c).toEqual({
        id: expect.stringMatching(/^ch_/),
        name: 'Acme ERP',
        type: 'HTTP',
        url: 'http://127.0.0.1:4000/orders',
        format: 'JSON',
        auth: { type: 'NONE' },
        signing: { enabled: false },
        headers: {},
        secretHeaders: [],
        enabled: true,
        timeoutMs: 30_000,
        retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
        batch: null,
        maxConcurrency: 10,
        visibilityTimeoutMs: 60_000,
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
        createdAt: expect.any(String),
        updatedAt: c.createdAt,
      });
      expect(await api.get(`/v1/channels/${c.id}`)).toMatchObject({ status: 200, body: c });
    });

    it('keeps every field given, in every format, auth and type', async () => {
      const body = {
        name: 'Acme EDI',
        type: 'HTTP',
        url: 'https://127.0.0.1:8443/edi',
        format: 'X12',
        auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://127.0.0.1:8443/token', clientId: 'waybill', clientSecret: 'cs-1', scope: 'tx:write', audience: 'erp' },
        signing: { enabled: true },
        headers: { 'X-Partner': 'acme' },
        enabled: false,
        timeoutMs: 5_000,
        retryPolicy: { strategy: 'exponential', initialDelayMs: 500, factor: 3, maxDelayMs: 60_000, maxDurationMs: 3_600_000 },
        batch: { maxItems: 25, maxWaitMs: 2_000 },
        maxConcurrency: 3,
        visibilityTimeoutMs: 30_000,
        circuitBreaker: { errorThresholdPercentage: 25, volumeThreshold: 5, resetTimeoutMs: 10_000 },
      };
      const c = await channel(body);
      const { clientSecret: _cs, ...auth } = body.auth;
      expect(c).toMatchObject({ ...body, auth, signing: { enabled: true, secret: expect.stringMatching(/^whsec_/) } });
      const pull = await channel({ name: 'Inbox', type: 'PULL', url: undefined, format: 'XML' });
      expect(pull).toMatchObject({ type: 'PULL', url: null, format: 'XML' });
      for (const auth of [{ type: 'BASIC', username: 'u', password: 'p' }, { type: 'BEARER', token: 't' }]) {
        expect((await channel({ auth })).auth).toEqual(auth.type === 'BASIC' ? { type: 'BASIC', username: 'u' } : { type: 'BEARER' });
      }
    });

    it('refuses what is out of range or incoherent, naming the field', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ url: undefined }, 'body.url'],
        [{ url: 'ftp://127.0.0.1/x' }, 'body.url'],
        [{ url: 'http://user:pw@127.0.0.1/x' }, 'body.url'],
        [{ type: 'PULL' }, 'body.url'],
        [{ timeoutMs: 99 }, 'body.timeoutMs'],
        [{ retryPolicy: { strategy: 'fixed', maxRetries: 21 } }, 'body.retryPolicy.maxRetries'],
        [{ retryPolicy: { strategy: 'exponential', initialDelayMs: 10_000, maxDelayMs: 1_000 } }, 'body.retryPolicy.maxDelayMs'],
        [{ batch: { maxItems: 51, maxWaitMs: 0 } }, 'body.batch.maxItems'],
        [{ headers: { Authorization: 'x' } }, 'body.headers.Authorization'],
        [{ headers: { 'X-A': 'a\r\nX-B: b' } }, 'body.headers.X-A'],
        [{ auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'nope', clientId: 'c', clientSecret: 's' } }, 'body.auth.tokenUrl'],
        [{ auth: { type: 'BASIC', username: 'u' } }, 'body.auth.password'],
        [{ colour: 'blue' }, 'body'],
      ];
      const before = (await h.db.query('SELECT count(*)::int AS n FROM registry.channels')).rows[0].n;
      for (const [body, path] of cases) {
        const res = await api.post('/v1/channels', { name: 'Bad', url: 'http://127.0.0.1:4000/x', ...body });
        expect({ body, status: res.status, paths: res.body.errors?.map((e: { path: string }) => e.path) }).toEqual({ body, status: 400, paths: expect.arrayContaining([path]) });
      }
      expect((await h.db.query('SELECT count(*)::int AS n FROM registry.channels')).rows[0].n).toBe(before);
    });

    it('PATCH merges objects, keeps credentials that are left out, and writes nothing for no change', async () => {
      const c = await channel({ auth: { type: 'BASIC', username: 'u', password: 'secret-1' }, retryPolicy: { strategy: 'fixed', maxRetries: 5 } });
      const sealed = (await stateOf(c.id)).auth;
      const res = await api.patch(`/v1/channels/${c.id}`, {
        name: 'Renamed',
        auth: { type: 'BASIC', username: 'u2' },
        retryPolicy: { strategy: 'fixed', delayMs: 1_000 },
        circuitBreaker: { volumeThreshold: 20 },
        enabled: false,
        headers: { 'X-New': '1' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        name: 'Renamed',
        auth: { type: 'BASIC', username: 'u2' },
        retryPolicy: { strategy: 'fixed', maxRetries: 5, delayMs: 1_000 },
        circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20, resetTimeoutMs: 30_000 },
        enabled: false,
        headers: { 'X-New': '1' },
      });
      const state = await stateOf(c.id);
      expect(state.version).toBe(2);
      expect(state.auth).toEqual({ ...sealed, username: 'u2' });

      const strategy = await api.patch(`/v1/channels/${c.id}`, { retryPolicy: { strategy: 'exponential', factor: 4 } });
      expect(strategy.body.retryPolicy).toEqual({ strategy: 'exponential', initialDelayMs: 1_000, factor: 4, maxDelayMs: 3_600_000, maxDurationMs: 86_400_000 });

      const noop = await api.patch(`/v1/channels/${c.id}`, { name: 'Renamed' });
      expect(noop.status).toBe(200);
      expect((await stateOf(c.id)).version).toBe(3);

      const newType = await api.patch(`/v1/channels/${c.id}`, { auth: { type: 'BEARER' } });
      expect(newType.status).toBe(400);
      expect(newType.body.errors).toEqual([{ path: 'body.auth.token', message: expect.stringContaining('BEARER') }]);
      const toPull = await api.patch(`/v1/channels/${c.id}`, { type: 'PULL' });
      expect(toPull.body).toMatchObject({ type: 'PULL', url: null });
      const back = await api.patch(`/v1/channels/${c.id}`, { type: 'HTTP' });
      expect(back.status).toBe(400);
      expect(back.body.errors[0].path).toBe('body.url');
      const batchOn = await api.patch(`/v1/channels/${c.id}`, { batch: { maxItems: 5 } });
      expect(batchOn.body.errors).toEqual([{ path: 'body.batch.maxWaitMs', message: expect.any(String) }]);
    });

    it('PATCH publishes the new state, which routing reads at once', async () => {
      const c = await channel({ format: 'JSON' });
      const rel = (await api.post('/v1/relationships', { senderId: `S-${c.id}`, receiverId: 'R', transactionType: '850', channelId: c.id })).body;
      expect((await api.patch(`/v1/channels/${c.id}`, { format: 'X12' })).status).toBe(200);
      const tx = await api.post('/v1/transactions', { relationshipId: rel.id, payload: { not: 'x12' } });
      expect(tx.status).toBe(400);
      expect(tx.body.errors[0]).toEqual({ path: 'body.payload', message: expect.stringContaining('X12') });
    });

    it('lists newest first, a page at a time', async () => {
      const org = await h.organization('Lister');
      const made = [];
      for (let i = 0; i < 3; i++) made.push((await org.api.post('/v1/channels', { name: `C${i}`, type: 'PULL' })).body.id);
      const first = await org.api.get('/v1/channels?limit=2');
      const second = await org.api.get(`/v1/channels?limit=2&cursor=${first.body.nextCursor}`);
      expect([...first.body.data, ...second.body.data].map((c: { id: string }) => c.id)).toEqual(made.reverse());
      expect(second.body.nextCursor).toBeNull();
      expect((await org.api.get('/v1/channels?cursor=garbage')).status).toBe(400);
    });
  });

  describe('signing secrets', () => {
    it('shows the secret in the 201 and at its endpoint, and a rotation keeps the old one 24 h', async () => {
      const c = await channel({ signing: { enabled: true } });
      const secret: string = c.signing.secret;
      expect(Buffer.from(secret.replace(/^whsec_/, ''), 'base64')).toHaveLength(32);
      expect((await api.get(`/v1/channels/${c.id}`)).body.signing).toEqual({ enabled: true });
      expect((await api.get(`/v1/channels/${c.id}/signing-secret`)).body).toEqual({ secret, createdAt: c.createdAt });

      const before = Date.now();
      const rotated = await api.post(`/v1/channels/${c.id}/signing-secret/rotate`);
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      expect(rotated.body.secret).not.toBe(secret);
      const expires = Date.parse(rotated.body.previousSecretExpiresAt);
      expect(expires - before).toBeGreaterThanOrEqual(24 * 3600_000 - 1_000);
      expect(expires - Date.now()).toBeLessThanOrEqual(24 * 3600_000);
      expect((await api.get(`/v1/channels/${c.id}/signing-secret`)).body.secret).toBe(rotated.body.secret);

      const box = new SecretBox(h.service.config.secretKey as string);
      const secrets = (await stateOf(c.id)).signing.secrets;
      expect(secrets.map((s) => ({ secret: box.decrypt(s.secret), expiresAt: s.expiresAt }))).toEqual([
        { secret, expiresAt: rotated.body.previousSecretExpiresAt },
        { secret: rotated.body.secret, expiresAt: null },
      ]);
    });

    it('answers 409 while signing is off, and turning it on issues a secret in the answer', async () => {
      const c = await channel();
      expect((await api.get(`/v1/channels/${c.id}/signing-secret`)).body.code).toBe('SIGNING_NOT_ENABLED');
      expect((await api.post(`/v1/channels/${c.id}/signing-secret/rotate`)).status).toBe(409);
      const on = await api.patch(`/v1/channels/${c.id}`, { signing: { enabled: true } });
      expect(on.body.signing).toEqual({ enabled: true, secret: expect.stringMatching(/^whsec_/) });
      expect((await api.get(`/v1/channels/${c.id}/signing-secret`)).body.secret).toBe(on.body.signing.secret);
    });
  });

  describe('settings and deletes', () => {
    it('sets and clears the default inbound and alert channels; relationships take the default as it is at creation', async () => {
      const org = await h.organization('Settings');
      expect((await org.api.get('/v1/settings')).body).toEqual({ defaultInboundChannelId: null, alertChannelId: null });
      const a = (await org.api.post('/v1/channels', { name: 'A', type: 'PULL' })).body;
      const b = (await org.api.post('/v1/channels', { name: 'B', type: 'PULL' })).body;
      const set = await org.api.put('/v1/settings/default-inbound-channel', { channelId: a.id });
      expect(set).toMatchObject({ status: 200, body: { defaultInboundChannelId: a.id, alertChannelId: null } });
      expect(SettingsResponse.parse(set.body)).toEqual(set.body);
      const first = (await org.api.post('/v1/relationships', { senderId: 'S', receiverId: 'R', transactionType: '1' })).body;
      expect(first).toMatchObject({ channelId: a.id, channelSource: 'DEFAULT' });

      expect((await org.api.put('/v1/settings/default-inbound-channel', { channelId: b.id })).body.defaultInboundChannelId).toBe(b.id);
      expect((await org.api.get(`/v1/relationships/${first.id}`)).body.channelId).toBe(a.id); // not moved
      expect((await org.api.post('/v1/relationships', { senderId: 'S', receiverId: 'R', transactionType: '2' })).body.channelId).toBe(b.id);

      expect((await org.api.put('/v1/settings/alert-channel', { channelId: a.id })).body).toEqual({ defaultInboundChannelId: b.id, alertChannelId: a.id });
      expect((await org.api.put('/v1/settings/alert-channel', { channelId: 'ch_nope' })).status).toBe(404);
      expect((await org.api.put('/v1/settings/alert-channel', {})).status).toBe(400);
      expect((await org.api.put('/v1/settings/default-inbound-channel', { channelId: null })).body.defaultInboundChannelId).toBeNull();
      const none = (await org.api.post('/v1/relationships', { senderId: 'S', receiverId: 'R', transactionType: '3' })).body;
      expect(none).toMatchObject({ channelId: null, channelSource: null });
      expect((await org.api.get('/v1/settings')).body).toEqual({ defaultInboundChannelId: null, alertChannelId: a.id });
    });

    it('refuses to delete a channel in use (relationship, default, alert) with 409, then deletes it once free', async () => {
      const c = await channel();
      const rel = (await api.post('/v1/relationships', { senderId: `S-${c.id}`, receiverId: 'R', transactionType: '850', channelId: c.id })).body;
      const inUse = await api.delete(`/v1/channels/${c.id}`);
      expect(inUse.status).toBe(409);
      expect(inUse.body).toMatchObject({ code: 'CHANNEL_IN_USE', detail: expect.stringContaining(rel.id) });

      expect((await api.patch(`/v1/relationships/${rel.id}`, { channelId: null })).status).toBe(200);
      await api.put('/v1/settings/default-inbound-channel', { channelId: c.id });
      expect((await api.delete(`/v1/channels/${c.id}`)).body.detail).toContain('default inbound channel');
      await api.put('/v1/settings/default-inbound-channel', { channelId: null });
      await api.put('/v1/settings/alert-channel', { channelId: c.id });
      expect((await api.delete(`/v1/channels/${c.id}`)).body.detail).toContain('alert channel');
      await api.put('/v1/settings/alert-channel', { channelId: null });

      expect((await api.delete(`/v1/channels/${c.id}`)).status).toBe(204);
      expect((await api.get(`/v1/channels/${c.id}`)).status).toBe(404);
      expect((await api.delete(`/v1/channels/${c.id}`)).status).toBe(404);
      // The tombstone reached routing's replica: the channel cannot be assigned any more.
      expect((await api.patch(`/v1/relationships/${rel.id}`, { channelId: c.id })).status).toBe(404);
    });

    it('counts a relationship created a moment ago through routing, and one deleted a moment ago', async () => {
      for (let i = 0; i < 3; i++) {
        const c = await channel();
        const rel = (await api.post('/v1/relationships', { senderId: `F-${c.id}`, receiverId: 'R', transactionType: '850', channelId: c.id })).body;
        expect((await api.delete(`/v1/channels/${c.id}`)).status).toBe(409);
        expect((await api.delete(`/v1/relationships/${rel.id}`)).status).toBe(204);
        expect((await api.delete(`/v1/channels/${c.id}`)).status).toBe(204);
      }
      const usage = await h.db.query('SELECT count(*)::int AS n FROM registry.relationship_usage WHERE org_id = $1', [orgId]);
      expect(usage.rows[0].n).toBeGreaterThan(0);
    });
  });
});
