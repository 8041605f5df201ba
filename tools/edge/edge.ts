import http from 'node:http';
import { Agent, request } from 'undici';
import path from 'node:path';
import { consoleFiles, mergeDocuments, serviceFor, ServiceName } from '@waybill/platform';

export type Upstreams = Record<ServiceName, string>;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

/** The web console's build, which the edge serves at `/` as the standalone app does. */
export const CONSOLE_DIR = path.resolve(__dirname, '../../apps/console/dist');

/**
 * The edge router of the distributed mode on a machine without nginx: one origin for the public
 * API, each path proxied to the service that owns it (see `serviceFor`), and the web console at
 * `/` (every other path: the same files and headers as the standalone app's).
 */
export function startEdge(port: number, upstreams: Upstreams, host = '127.0.0.1', consoleDir: string | null = CONSOLE_DIR): Promise<http.Server> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const files = consoleDir ? consoleFiles(consoleDir) : null;
  const server = http.createServer((req, res) => {
    if (req.url === '/health/live' || req.url === '/health/ready') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/openapi.json') {
      // Each service documents its own endpoints; the edge, which composes them, serves them as one.
      void servedDocument(upstreams, agent).then(
        (doc) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(doc)),
        (err: Error) => res.writeHead(502, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Bad gateway', status: 502, detail: err.message })),
      );
      return;
    }
    const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
    if (!service) {
      const notFound = () => {
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Not found', status: 404, detail: 'No such resource.' }));
      };
      if (!files) return notFound();
      files(req, res).then(
        (served) => served || notFound(),
        () => res.headersSent || notFound(),
      );
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const length = Number(req.headers['content-length']);
    // A small body is read whole and sent with the request's head; a large one streams through.
    const body: Promise<Buffer | http.IncomingMessage | undefined> = !hasBody
      ? Promise.resolve(undefined)
      : length <= SMALL_BODY_BYTES
        ? readAll(req)
        : Promise.resolve(req);
    body
      .then((b) => request(`${upstreams[service]}${req.url}`, { method: req.method as 'GET', headers, body: b, dispatcher: agent }))
      .then(
        async (up) => {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
          res.writeHead(up.statusCode, out);
          if (Number(up.headers['content-length']) <= SMALL_BODY_BYTES) {
            res.end(Buffer.from(await up.body.arrayBuffer())); // the head and the body in one write
            return;
          }
          for await (const chunk of up.body) res.write(chunk);
          res.end();
        },
        (err: Error) => {
          if (res.headersSent) return void res.destroy(err);
          res.writeHead(502, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ type: 'about:blank', title: 'Bad gateway', status: 502, detail: `${service}: ${err.message}` }));
        },
      );
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** Bodies up to this size go through the edge whole (one write each way); larger ones stream. */
const SMALL_BODY_BYTES = 256 * 1024;

function readAll(stream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** The four services' OpenAPI documents as one. */
async function servedDocument(upstreams: Upstreams, agent: Agent): Promise<Record<string, unknown>> {
  const documents = await Promise.all(
    Object.values(upstreams).map(async (url) => {
      const res = await request(`${url}/openapi.json`, { dispatcher: agent });
      if (res.statusCode !== 200) throw new Error(`${url}/openapi.json answered ${res.statusCode}`);
      return (await res.body.json()) as Record<string, unknown>;
    }),
  );
  return mergeDocuments(documents);
}
