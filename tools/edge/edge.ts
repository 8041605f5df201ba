import http from 'node:http';
import path from 'node:path';
import { Agent, request } from 'undici';
import { clientProblem, consoleFiles, mergeDocuments, problemBody, ProblemError, rawProblemResponse, serviceFor, ServiceName } from '@waybill/platform';
import { UpstreamPool } from './upstream-pool';

/** Where each service answers: one instance's URL, or several (balanced, health-checked). */
export type Upstreams = Record<ServiceName, string | readonly string[]>;

/** The edge's server, and how to change a service's instances while it runs. */
export type Edge = http.Server & { setUpstreams(service: ServiceName, urls: readonly string[]): void };

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

/** The web console's build, which the edge serves at `/` as the standalone app does. */
export const CONSOLE_DIR = path.resolve(__dirname, '../../apps/console/dist');

/** Bodies up to this size go through the edge whole (one write each way); larger ones stream. */
const SMALL_BODY_BYTES = 256 * 1024;

/** Answers `problem` (problem+json, like every error of the API); closes the connection if the request is still arriving. */
function answerProblem(req: http.IncomingMessage, res: http.ServerResponse, problem: ProblemError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(problem.status, { 'content-type': 'application/problem+json', ...(req.complete ? {} : { connection: 'close' }) });
  res.end(JSON.stringify(problemBody(problem)));
}

/**
 * The edge router of the distributed mode on a machine without nginx: one origin for the public
 * API, each path proxied to the service that owns it (see `serviceFor`), and the web console at
 * `/` (every other path: the same files and headers as the standalone app's). Its own errors (no
 * such route, a service that does not answer, a request Node cannot parse) are problem+json too.
 */
export function startEdge(port: number, upstreams: Upstreams, host = '127.0.0.1', consoleDir: string | null = CONSOLE_DIR): Promise<Edge> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const files = consoleDir ? consoleFiles(consoleDir) : null;
  const pools = Object.fromEntries(
    Object.entries(upstreams).map(([service, urls]) => [service, new UpstreamPool(typeof urls === 'string' ? [urls] : urls, agent)]),
  ) as Record<ServiceName, UpstreamPool>;
  for (const pool of Object.values(pools)) if (pool.all.length > 1) pool.startChecking();
  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      answerProblem(req, res, new ProblemError(502, 'BAD_GATEWAY', 'Bad gateway', `The request could not be passed on: ${(err as Error).message}`));
    }
  });
  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.url === '/health/live' || req.url === '/health/ready') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/openapi.json') {
      // Each service documents its own endpoints; the edge, which composes them, serves them as one.
      void servedDocument(pools, agent).then(
        (doc) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(doc)),
        (err: Error) => answerProblem(req, res, new ProblemError(502, 'BAD_GATEWAY', 'Bad gateway', err.message)),
      );
      return;
    }
    const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
    if (!service) {
      const notFound = () => answerProblem(req, res, new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.'));
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
    const failed = (err: Error) => answerProblem(req, res, new ProblemError(502, 'BAD_GATEWAY', 'Bad gateway', `${service} did not answer: ${err.message}`));
    const pool = pools[service];
    /** To an instance; one that refuses the connection (it died) is left out and the next one asked, when the body can be sent again. */
    const send = (body: Buffer | http.IncomingMessage | undefined, tried: Set<string>) => {
      const url = pool.pick(tried);
      if (!url) return failed(new Error('no instance answers'));
      forward(agent, url, req, headers, body, res, (err) => {
        if (!refused(err)) return failed(err);
        pool.markDown(url);
        if (body instanceof http.IncomingMessage) return failed(err);
        tried.add(url);
        send(body, tried);
      });
    };
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // A small body is read whole and sent with the request's head; a large one streams through
    // (so that a service refusing it early — a 401, a 413 — stops it early).
    if (hasBody && Number(req.headers['content-length']) <= SMALL_BODY_BYTES) {
      readAll(req).then((body) => send(body, new Set()), failed);
    } else {
      send(hasBody ? req : undefined, new Set());
    }
  };
  // A request Node cannot parse (a control byte in a header, headers too large) gets a problem too.
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(rawProblemResponse(clientProblem(err.code)));
    socket.destroy();
  });
  server.on('close', () => {
    for (const pool of Object.values(pools)) pool.stopChecking();
  });
  const edge = Object.assign(server, {
    setUpstreams(service: ServiceName, urls: readonly string[]) {
      pools[service].set(urls);
      if (urls.length > 1) pools[service].startChecking();
    },
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(edge)));
}

/** A connection that was never made (the instance is gone): the request can go to another. */
function refused(err: Error & { code?: string }): boolean {
  return err.code === 'ECONNREFUSED' || err.code === 'UND_ERR_CONNECT_TIMEOUT';
}

/**
 * Sends one request upstream with undici's handler interface (no stream or promise per request)
 * and writes the answer to `res`: a small one whole, with its head, in one write.
 */
function forward(
  agent: Agent,
  origin: string,
  req: http.IncomingMessage,
  headers: Record<string, string>,
  body: Buffer | http.IncomingMessage | undefined,
  res: http.ServerResponse,
  failed: (err: Error) => void,
): void {
  let chunks: Buffer[] | null = null;
  agent.dispatch(
    { origin, path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers, body },
    {
      onRequestStart() {
        // undici takes a handler for its own interface (not the legacy one) by this method's presence.
      },
      onResponseStart(_controller, statusCode, upHeaders) {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upHeaders)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        // The service answered before the body was all sent (a 401, a 413): the rest is not read.
        if (!req.complete) out.connection = 'close';
        res.writeHead(statusCode, out);
        if (Number(upHeaders['content-length']) <= SMALL_BODY_BYTES) chunks = [];
      },
      onResponseData(_controller, chunk) {
        if (chunks) chunks.push(chunk);
        else res.write(chunk);
      },
      onResponseEnd() {
        if (chunks) res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        else res.end();
      },
      onResponseError(_controller, err) {
        if (res.headersSent) res.destroy();
        else failed(err);
      },
    },
  );
}

function readAll(stream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** The four services' OpenAPI documents as one. */
async function servedDocument(pools: Record<ServiceName, UpstreamPool>, agent: Agent): Promise<Record<string, unknown>> {
  const documents = await Promise.all(
    Object.values(pools).map(async (pool) => {
      const url = pool.pick();
      if (!url) throw new Error('no instance answers');
      const res = await request(`${url}/openapi.json`, { dispatcher: agent });
      if (res.statusCode !== 200) throw new Error(`${url}/openapi.json answered ${res.statusCode}`);
      return (await res.body.json()) as Record<string, unknown>;
    }),
  );
  return mergeDocuments(documents);
}
