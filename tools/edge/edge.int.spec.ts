import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '@waybill/testing';
import { startEdge, Upstreams } from './edge';

/**
 * The edge router's own errors are problem+json like every other error of the API, and it routes
 * `/v1/egress` to the dispatcher. Real sockets on loopback: an upstream that says which service it
 * is, and a port where nothing listens.
 */
describe('edge router', () => {
  let edge: http.Server;
  let upstream: http.Server;
  let client: ApiClient;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url })));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const live = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const dead = await unusedPort();
    const upstreams: Upstreams = {
      'channel-registry': `http://127.0.0.1:${dead}`,
      'relationship-routing': live,
      dispatcher: live,
      'status-projection': live,
    };
    edge = await startEdge(0, upstreams);
    client = new ApiClient(`http://127.0.0.1:${(edge.address() as AddressInfo).port}`);
  });
  afterAll(async () => {
    edge.closeAllConnections();
    upstream.closeAllConnections();
    await new Promise((r) => edge.close(r));
    await new Promise((r) => upstream.close(r));
  });

  const problem = (status: number, code: string) => ({
    status,
    headers: expect.objectContaining({ 'content-type': 'application/problem+json' }),
    body: expect.objectContaining({ type: expect.stringContaining('https://waybill.dev/problems/'), title: expect.any(String), status, code }),
  });

  it('routes GET /v1/egress to the dispatcher', async () => {
    expect(await client.get('/v1/egress')).toMatchObject({ status: 200, body: { url: '/v1/egress' } });
  });

  it('an API path no service serves is a 404 problem', async () => {
    // An API path no service serves (other paths are the console's: its index.html).
    expect(await client.get('/v1/nothing-here')).toMatchObject(problem(404, 'NOT_FOUND'));
  });

  it('a service that does not answer is a 502 problem', async () => {
    expect(await client.get('/v1/channels')).toMatchObject(problem(502, 'BAD_GATEWAY'));
  });

  it('a request Node cannot parse (a control byte in Idempotency-Key) is a 400 problem, not Node’s own text', async () => {
    const port = (edge.address() as AddressInfo).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('POST /v1/transactions HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\nContent-Length: 2\r\n\r\n{}'));
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
});

async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
