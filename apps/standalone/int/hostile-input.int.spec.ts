import net from 'node:net';
import fc from 'fast-check';
import { ApiClient, ApiResponse } from '@waybill/testing';
import { channelWithRelationship, send, startWaybillInProcess, Waybill } from './__fixtures__/waybill';

jest.setTimeout(300_000);

/**
 * Hostile input on every endpoint of the four services (items 3 and 13): control characters and
 * unpaired surrogates in path ids, query values and the ids and names of bodies, tampered cursors,
 * over-long path ids, malformed URLs, JSON and headers. Never a 5xx; every error is problem+json,
 * and the specific cases name the field at fault. (Transaction payloads are not text of this kind:
 * they are delivered as sent, and are left out here.)
 */
describe('hostile input never answers 5xx, and every error is problem+json', () => {
  let w: Waybill;
  let api: ApiClient;
  const ids = { channel: '', pull: '', relationship: '', transaction: '', apiKey: '' };

  beforeAll(async () => {
    w = await startWaybillInProcess();
    ({ api } = await w.organization('Acme'));
    const push = await channelWithRelationship(api, 'http://127.0.0.1:9/never');
    ids.channel = push.channelId;
    ids.relationship = push.relationshipId;
    ids.pull = (await api.post('/v1/channels', { name: 'Pull', type: 'PULL' })).body.id;
    ids.transaction = await send(api, push.relationshipId);
    ids.apiKey = (await api.get('/v1/api-keys')).body.data[0].id;
  });
  afterAll(() => w?.stop());

  function expectProblemOr2xx(res: ApiResponse, what: unknown): void {
    expect({ what, status: res.status }).toEqual({ what, status: expect.any(Number) });
    expect({ what, serverError: res.status >= 500 }).toEqual({ what, serverError: false });
    if (res.status >= 400) {
      expect({ what, type: res.headers['content-type'] }).toEqual({ what, type: expect.stringContaining('application/problem+json') });
      expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: res.status, code: expect.any(String) });
      expect(res.body.title).not.toBe('HttpException');
    }
  }

  /** Percent-encodes a string as a client would put it in a URL, an unpaired surrogate as the (invalid) UTF-8 of its code unit. */
  function urlEncode(s: string): string {
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const next = s.charCodeAt(i + 1);
      if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += encodeURIComponent(s.slice(i, i + 2));
        i++;
      } else if (c >= 0xd800 && c <= 0xdfff) {
        out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
      } else out += encodeURIComponent(s[i]);
    }
    return out;
  }

  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

  /** A string holding at least one control character or unpaired surrogate. */
  const hostileChar = fc.oneof(
    { arbitrary: fc.constant('\u0000'), weight: 3 },
    { arbitrary: fc.constantFrom('\r\n', '\n', '\t', '\u0001', '\u001b', '\u007f', '\u0085', '\u009f'), weight: 3 },
    { arbitrary: fc.constantFrom('\ud800', '\udfff', '\udc00\ud800'), weight: 2 },
  );
  const hostile = fc.tuple(fc.string({ maxLength: 6 }), hostileChar, fc.string({ maxLength: 6 })).map(([a, h, b]) => a + h + b);
  /** A path segment as it is put in a URL: hostile text encoded, raw broken encodings, over-long ids. */
  const hostileSegment = fc.oneof(
    hostile.map(urlEncode),
    fc.constantFrom('%', '%ZZ', '%FF', '%C0%80', '%ED%A0%80', '%E0%A4%A', 'tx_%00'),
    fc.integer({ min: 101, max: 6_000 }).map((n) => 'a'.repeat(n)),
  );
  /** Cursors as a tamperer makes them: the shape of a real one with hostile or out-of-range fields, or anything at all. */
  const hostileCursor = fc.oneof(
    { arbitrary: fc.constantFrom('+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z').map((at) => b64([at, 'tx_1'])), weight: 2 },
    fc
      .tuple(
        fc.oneof(
          fc.constantFrom('+275760-09-13T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '2030-01-01T00:00:00.000Z'),
          fc.string(),
        ),
        fc.oneof(hostile, fc.constant('x'.repeat(5_000)), fc.constant('tx_1'), fc.integer()),
      )
      .map(b64),
    fc.jsonValue({ maxDepth: 2 }).map(b64),
    hostile.map(b64),
    fc.string({ maxLength: 50 }),
  );

  type Route = { method: string; path: (id: string) => string; body?: () => unknown };
  const byId: Route[] = [
    { method: 'GET', path: (id) => `/v1/channels/${id}` },
    { method: 'PATCH', path: (id) => `/v1/channels/${id}`, body: () => ({ name: 'Renamed' }) },
    { method: 'DELETE', path: (id) => `/v1/channels/${id}` },
    { method: 'GET', path: (id) => `/v1/channels/${id}/signing-secret` },
    { method: 'POST', path: (id) => `/v1/channels/${id}/signing-secret/rotate` },
    { method: 'POST', path: (id) => `/v1/channels/${id}/test` },
    { method: 'GET', path: (id) => `/v1/channels/${id}/health` },
    { method: 'GET', path: (id) => `/v1/channels/${id}/messages` },
    { method: 'POST', path: (id) => `/v1/channels/${id}/messages/ack`, body: () => ({ deliveryIds: ['dl_1'] }) },
    { method: 'POST', path: (id) => `/v1/channels/${id}/messages/nack`, body: () => ({ deliveryIds: ['dl_1'] }) },
    { method: 'DELETE', path: (id) => `/v1/api-keys/${id}` },
    { method: 'GET', path: (id) => `/v1/relationships/${id}` },
    { method: 'PATCH', path: (id) => `/v1/relationships/${id}`, body: () => ({ channelId: null }) },
    { method: 'DELETE', path: (id) => `/v1/relationships/${id}` },
    { method: 'GET', path: (id) => `/v1/transactions/${id}` },
    { method: 'GET', path: (id) => `/v1/transactions/${id}/events` },
    { method: 'POST', path: (id) => `/v1/transactions/${id}/accept` },
    { method: 'POST', path: (id) => `/v1/transactions/${id}/redeliver` },
  ];
  const lists: Array<{ path: () => string; params: string[] }> = [
    { path: () => '/v1/channels', params: ['limit', 'cursor'] },
    { path: () => '/v1/api-keys', params: ['limit', 'cursor'] },
    { path: () => '/v1/relationships', params: ['limit', 'cursor', 'channelId'] },
    { path: () => '/v1/transactions', params: ['limit', 'cursor', 'status', 'channelId', 'relationshipId', 'createdAfter', 'createdBefore'] },
    { path: () => `/v1/transactions/${ids.transaction}/events`, params: ['limit', 'cursor'] },
    { path: () => '/v1/alerts', params: ['limit', 'cursor', 'channelId', 'type'] },
    { path: () => `/v1/channels/${ids.pull}/messages`, params: ['limit', 'waitMs'] },
    { path: () => '/v1/egress', params: ['x'] },
    { path: () => '/v1/settings', params: ['x'] },
  ];
  /** Body endpoints, each a valid body and the string fields that take ids or names. */
  const bodies: Array<{ method: string; path: () => string; valid: () => Record<string, unknown>; fields: string[]; admin?: boolean }> = [
    { method: 'POST', path: () => '/v1/organizations', valid: () => ({ name: 'Org' }), fields: ['name'], admin: true },
    { method: 'POST', path: () => '/v1/channels', valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x' }), fields: ['name', 'url'] },
    {
      method: 'POST',
      path: () => '/v1/channels',
      valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x', auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'http://127.0.0.1:9/t', clientId: 'c', clientSecret: 's', scope: 'a', audience: 'b' } }),
      fields: ['auth.tokenUrl', 'auth.clientId', 'auth.clientSecret', 'auth.scope', 'auth.audience'],
    },
    { method: 'POST', path: () => '/v1/channels', valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x', auth: { type: 'BASIC', username: 'u', password: 'p' } }), fields: ['auth.username', 'auth.password'] },
    { method: 'POST', path: () => '/v1/channels', valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x', auth: { type: 'BEARER', token: 't' } }), fields: ['auth.token'] },
    { method: 'POST', path: () => '/v1/channels', valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x', headers: { 'X-A': 'v' }, secretHeaders: { 'X-B': 'v' } }), fields: ['headers.X-A', 'secretHeaders.X-B'] },
    { method: 'PATCH', path: () => `/v1/channels/${ids.channel}`, valid: () => ({ name: 'C', url: 'http://127.0.0.1:9/x' }), fields: ['name', 'url'] },
    { method: 'PUT', path: () => '/v1/settings/default-inbound-channel', valid: () => ({ channelId: ids.channel }), fields: ['channelId'] },
    { method: 'PUT', path: () => '/v1/settings/alert-channel', valid: () => ({ channelId: ids.channel }), fields: ['channelId'] },
    { method: 'POST', path: () => '/v1/relationships', valid: () => ({ senderId: 'S', receiverId: 'R', transactionType: 'T', channelId: ids.channel }), fields: ['senderId', 'receiverId', 'transactionType', 'channelId'] },
    { method: 'PATCH', path: () => `/v1/relationships/${ids.relationship}`, valid: () => ({ channelId: ids.channel }), fields: ['channelId'] },
    { method: 'POST', path: () => '/v1/transactions', valid: () => ({ relationshipId: ids.relationship, payload: 1, businessNumber: 'PO-1' }), fields: ['relationshipId', 'businessNumber'] },
    { method: 'POST', path: () => '/v1/transactions', valid: () => ({ senderId: 'S', receiverId: 'R', transactionType: 'T', payload: 1 }), fields: ['senderId', 'receiverId', 'transactionType'] },
    { method: 'POST', path: () => '/v1/transactions/redeliver', valid: () => ({ status: 'FAILED', channelId: ids.channel, createdAfter: '2030-01-01T00:00:00Z' }), fields: ['channelId', 'createdAfter'] },
    { method: 'POST', path: () => `/v1/channels/${ids.pull}/messages/ack`, valid: () => ({ deliveryIds: ['dl_1'] }), fields: ['deliveryIds.0'] },
    { method: 'POST', path: () => `/v1/channels/${ids.pull}/messages/nack`, valid: () => ({ deliveryIds: ['dl_1'] }), fields: ['deliveryIds.0'] },
  ];

  function withField(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
    const copy = JSON.parse(JSON.stringify(body));
    const keys = path.split('.');
    let at = copy;
    for (const k of keys.slice(0, -1)) at = at[k];
    at[keys.at(-1)!] = value;
    return copy;
  }

  /** The field path as a 400 names it (`body.auth.token`, `body.deliveryIds[0]`). */
  const named = (path: string) => `body.${path}`.replace(/\.(\d+)(?=\.|$)/g, '[$1]');

  describe('the cases the issue names', () => {
    it.each([
      ['GET', '/v1/channels/%00'],
      ['GET', '/v1/transactions/tx_%00'],
      ['GET', '/v1/transactions/tx_%00/events'],
      ['POST', '/v1/transactions/tx_%00/accept'],
      ['POST', '/v1/transactions/tx_%00/redeliver'],
      ['DELETE', '/v1/api-keys/key_%00'],
      ['GET', '/v1/relationships/rel_%0D%0A'],
      ['GET', '/v1/channels/ch_%ED%A0%80/health'],
    ])('%s %s is 400 naming path.id', async (method, path) => {
      const res = await api.call<any>(method, path);
      expectProblemOr2xx(res, path);
      expect(res.status).toBe(400);
      if (!path.includes('%ED')) expect(res.body.errors).toEqual([{ path: 'path.id', message: expect.stringMatching(/control characters/) }]);
    });

    it.each(['/v1/relationships', '/v1/transactions', '/v1/alerts'])('?channelId=%%00 on %s is 400 naming query.channelId', async (path) => {
      const res = await api.get(`${path}?channelId=%00`);
      expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'query.channelId' }] } });
    });

    it.each(['/v1/channels', '/v1/api-keys', '/v1/relationships', '/v1/transactions', '/v1/alerts', 'events'])('a tampered cursor on %s (NUL, year +275760) is 400 naming query.cursor', async (list) => {
      const path = list === 'events' ? `/v1/transactions/${ids.transaction}/events` : list;
      for (const cursor of [b64(['2030-01-01T00:00:00.000Z', 'tx_\u0000']), b64(['+275760-09-13T00:00:00.000Z', 'tx_1']), b64(['2030-01-01T00:00:00.000Z', 'tx_\ud800'])]) {
        const res = await api.get(`${path}?cursor=${cursor}`);
        expect(res).toMatchObject({ status: 400, body: { errors: [{ path: 'query.cursor' }] } });
      }
    });

    it.each([
      ['createdAfter', '0000-01-01T00:00:00Z'],
      ['createdBefore', '9999-12-31T23:59:59-23:59'],
    ])('a time out of range (%s=%s) is 400 naming it', async (name, value) => {
      expect(await api.get(`/v1/transactions?${name}=${encodeURIComponent(value)}`)).toMatchObject({ status: 400, body: { errors: [{ path: `query.${name}` }] } });
      expect(await api.post('/v1/transactions/redeliver', { status: 'FAILED', [name]: value })).toMatchObject({ status: 400, body: { errors: [{ path: `body.${name}` }] } });
    });

    it('a body with a __proto__ or constructor.prototype key at any depth is refused whole with 400, and nothing is stored', async () => {
      const before = (await api.get<any>('/v1/transactions?limit=100')).body.data.length;
      for (const text of ['{"__proto__":0}', '{"constructor":{"prototype":{"polluted":1}}}']) {
        const item = { relationshipId: ids.relationship, payload: JSON.parse(`{"order":${text}}`) };
        for (const [path, body] of [
          ['/v1/transactions', item],
          ['/v1/transactions/batch', { transactions: [item, JSON.parse(text)] }],
          ['/v1/channels', { name: 'x', type: 'PULL', ...JSON.parse(text) }],
        ] as const) {
          const res = await api.post<any>(path, body);
          expectProblemOr2xx(res, { path, text });
          expect({ path, text, status: res.status }).toEqual({ path, text, status: 400 });
        }
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect((await api.get<any>('/v1/transactions?limit=100')).body.data).toHaveLength(before);
    });

    it('every body field that is an id or a name refuses NUL and an unpaired surrogate with 400 naming it', async () => {
      for (const e of bodies) {
        for (const field of e.fields) {
          for (const bad of ['a\u0000b', 'a\ud800']) {
            const res = await (e.admin ? w.admin : api).call<any>(e.method, e.path(), withField(e.valid(), field, bad));
            expect({ e: `${e.method} ${e.path()}`, field, bad, status: res.status, paths: res.body.errors?.map((x: { path: string }) => x.path) }).toEqual({
              e: `${e.method} ${e.path()}`,
              field,
              bad,
              status: 400,
              paths: [named(field)],
            });
          }
        }
      }
    });

    it('a batch item with such an id is answered by its own 400, naming it', async () => {
      const res = await api.post('/v1/transactions/batch', {
        transactions: [
          { relationshipId: 'rel_\u0000', payload: 1 },
          { senderId: 'S\ud800', receiverId: 'R', transactionType: 'T', payload: 1 },
          { relationshipId: ids.relationship, payload: 1, idempotencyKey: 'k\u0001' },
        ],
      });
      expect(res.status).toBe(202);
      expect(res.body.data.map((d: { error: { status: number; errors: { path: string }[] } }) => [d.error.status, d.error.errors.map((x) => x.path)])).toEqual([
        [400, ['body.transactions[0].relationshipId']],
        [400, ['body.transactions[1].senderId']],
        [400, ['body.transactions[2].idempotencyKey']],
      ]);
    });

    it('a 5,000-character path id is 400 problem+json (not Fastify’s 414)', async () => {
      for (const r of byId) {
        const res = await api.call<any>(r.method, r.path('x'.repeat(5_000)), r.body?.());
        expectProblemOr2xx(res, r.method);
        expect(res.status).toBe(400);
      }
    });

    it('malformed JSON is 400 "Invalid request" naming the body', async () => {
      const res = await api.post('/v1/channels', '{"name": ');
      expect(res).toMatchObject({ status: 400, body: { title: 'Invalid request', code: 'INVALID_REQUEST', errors: [{ path: 'body', message: 'is not valid JSON' }] } });
    });

    it('an Idempotency-Key with a control byte is a 400 problem, not Node’s "Client Error"', async () => {
      const { port } = new URL(w.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(port), '127.0.0.1', () =>
          socket.write(`POST /v1/transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nIdempotency-Key: a\x01b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`),
        );
        let text = '';
        socket.on('data', (c) => (text += c));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      const [head, body] = answer.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toMatch(/content-type: application\/problem\+json/i);
      expect(JSON.parse(body)).toMatchObject({ status: 400, code: 'INVALID_REQUEST', errors: [{ path: 'headers' }] });
    });

    it('an Idempotency-Key HTTP can carry but that is not text (a tab, a C1 control) is 400 naming it', async () => {
      for (const key of ['a\tb', 'a\u0085b']) {
        const res = await api.post('/v1/transactions', { relationshipId: ids.relationship, payload: 1 }, { 'idempotency-key': key });
        expectProblemOr2xx(res, key);
        expect(res.status).toBe(400);
      }
    });
  });

  describe('the key is checked before the body is read', () => {
    it('every route behind a key (as /openapi.json documents it) answers 401 to a call without one, its broken body unread', async () => {
      const doc = (await api.get('/openapi.json')).body as { paths: Record<string, Record<string, { security?: unknown[] }>> };
      let checked = 0;
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          if (!op.security?.length) continue;
          const concrete = path.replace(/\{[^}]+\}/g, 'id_1');
          const res = await w.anonymous.call<any>(method.toUpperCase(), concrete, '{"broken": ', { 'content-type': 'application/json' });
          expect({ route: `${method} ${path}`, status: res.status, type: res.headers['content-type'] }).toEqual({
            route: `${method} ${path}`,
            status: 401,
            type: expect.stringContaining('application/problem+json'),
          });
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(30);
    });
  });

  describe('properties over every endpoint', () => {
    it('property: a hostile path id on any route', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...byId), hostileSegment, async (r, segment) => {
          expectProblemOr2xx(await api.call<any>(r.method, r.path(segment), r.body?.()), { route: r.path(':id'), segment });
        }),
        { numRuns: 150 },
      );
    });

    it('property: hostile query values and tampered cursors on any list', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...lists), fc.oneof(hostile.map(urlEncode), hostileSegment), hostileCursor, async (l, value, cursor) => {
          // The same hostile value in every parameter of the list, one at a time; a tampered cursor where it takes one.
          for (const param of l.params) {
            const v = param === 'cursor' ? encodeURIComponent(cursor) : value;
            expectProblemOr2xx(await api.get(`${l.path()}?${param}=${v}`), { list: l.path(), param, v });
          }
        }),
        { numRuns: 150 },
      );
    });

    it('property: a hostile id or name in any body field is a 400 naming that field', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...bodies).chain((e) => fc.tuple(fc.constant(e), fc.constantFrom(...e.fields))),
          fc.oneof(hostile, fc.constant('x'.repeat(5_000))),
          async ([e, field], value) => {
            const res = await (e.admin ? w.admin : api).call<any>(e.method, e.path(), withField(e.valid(), field, value));
            expectProblemOr2xx(res, { endpoint: `${e.method} ${e.path()}`, field, value });
            expect({ field, status: res.status }).toEqual({ field, status: 400 });
            expect(res.body.errors.map((x: { path: string }) => x.path)).toContain(named(field));
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
