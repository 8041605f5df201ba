import http from 'node:http';
import { ApiClient } from '@waybill/testing';
import { Harness, startHarness } from './__fixtures__/harness';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;

interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** Bytes of the body the client had sent when the answer came. */
  sent: number;
}

/**
 * POSTs a body of `declared` bytes (JSON whitespace) in 64 KiB chunks as fast as the server takes
 * them, and stops sending the moment an answer arrives — as a client would that reads while it
 * writes. The answer says how much of the body had gone out by then.
 */
function postLarge(baseUrl: string, path: string, declared: number, headers: Record<string, string> = {}, method = 'POST'): Promise<Exchange> {
  const url = new URL(path, baseUrl);
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = http.request(
      { method, host: url.hostname, port: url.port, path: url.pathname, headers: { 'content-type': 'application/json', 'content-length': String(declared), ...headers } },
      (res) => {
        answered = true;
        const at = sent;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null, sent: at });
          req.destroy();
        });
      },
    );
    // Once answered, the server may close while we write: that is the point, not a failure.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    const pump = (): void => {
      while (!answered && sent < declared) {
        const n = Math.min(chunk.length, declared - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

/**
 * The request gate (item 6): a request is authenticated from its headers before its body is read,
 * and every route reads at most the body it can accept. Registry and routing in one process, on
 * the test PostgreSQL and Kafka; the client is a raw Node HTTP client that keeps sending until
 * the server answers.
 */
describe('bodies are read only after the key, and only up to the route’s limit', () => {
  let h: Harness;
  let api: ApiClient;
  let apiKey: string;

  beforeAll(async () => {
    h = await startHarness();
    ({ api, apiKey } = await h.organization('Acme'));
  });
  afterAll(() => h?.stop());

  it.each([
    ['no key', {}],
    ['an unknown key (after the bounded catch-up)', { authorization: 'Bearer wb_not-a-key-0123456789' }],
  ])('a 30 MiB body with %s is refused 401 before it is read, and memory does not grow by its size', async (_, headers) => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const res = await postLarge(h.service.url, '/v1/transactions/batch', 30 * MiB, headers);
    const grew = process.memoryUsage().rss - before;
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    // The server answered long before the client could finish sending (what was sent sat in socket buffers).
    expect(res.sent).toBeLessThan(8 * MiB);
    expect(grew).toBeLessThan(15 * MiB);
  });

  it.each<[string, string, string, number]>([
    ['a channel', 'POST', '/v1/channels', 512 * 1024],
    ['a channel change', 'PATCH', '/v1/channels/ch_1', 512 * 1024],
    ['a relationship', 'POST', '/v1/relationships', 64 * 1024],
    ['a setting', 'PUT', '/v1/settings/alert-channel', 64 * 1024],
    ['an API key', 'POST', '/v1/api-keys', 64 * 1024],
    ['one transaction', 'POST', '/v1/transactions', 2 * MiB + 64 * 1024],
    ['a batch', 'POST', '/v1/transactions/batch', 32 * MiB],
  ])('with a key, a body over the limit of %s (%s %s) is 413 problem+json, answered before it is all sent', async (_, method, path, limit) => {
    // 16 MiB more than the limit: far more than socket buffers hold, so an early answer shows.
    const declared = limit + 16 * MiB;
    const res = await postLarge(h.service.url, path, declared, { authorization: `Bearer ${apiKey}` }, method);
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE', detail: expect.stringContaining(String(limit)) });
    expect(res.sent).toBeLessThan(declared);
  });

  it('a chunked body (no Content-Length) over the limit is 413 too', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const url = new URL('/v1/relationships', h.service.url);
      const req = http.request({ method: 'POST', host: url.hostname, port: url.port, path: url.pathname, headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(Buffer.alloc(200 * 1024, 0x20));
    });
    expect(res).toBe(413);
  });

  it('a transaction whose 1 MiB XML document doubles when escaped in JSON still fits the body limit', async () => {
    const channelId = (await api.post('/v1/channels', { name: 'XML', type: 'PULL', format: 'XML' })).body.id;
    const rel = (await api.post('/v1/relationships', { senderId: 'X', receiverId: 'Y', transactionType: '850', channelId })).body;
    const document = `<a>${'"'.repeat(MiB - 7)}</a>`;
    expect(Buffer.byteLength(document)).toBe(MiB);
    const res = await api.post('/v1/transactions', { relationshipId: rel.id, payload: document });
    expect(JSON.stringify({ relationshipId: rel.id, payload: document }).length).toBeGreaterThan(2 * MiB);
    expect(res.status).toBe(202);
  });
});
