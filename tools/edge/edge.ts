import http from 'node:http';
import { Agent, request } from 'undici';
import { clientProblem, mergeDocuments, problemBody, ProblemError, rawProblemResponse, serviceFor, ServiceName } from '@waybill/platform';

export type Upstreams = Record<ServiceName, string>;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

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
 * API, each path proxied to the service that owns it (see `serviceFor`). Its own errors (no such
 * route, a service that does not answer, a request Node cannot parse) are problem+json too.
 */
export function startEdge(port: number, upstreams: Upstreams, host = '127.0.0.1'): Promise<http.Server> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
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
      void servedDocument(upstreams, agent).then(
        (doc) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(doc)),
        (err: Error) => answerProblem(req, res, new ProblemError(502, 'BAD_GATEWAY', 'Bad gateway', err.message)),
      );
      return;
    }
    const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
    if (!service) {
      answerProblem(req, res, new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.'));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    request(`${upstreams[service]}${req.url}`, {
      method: req.method as 'GET',
      headers,
      body: hasBody ? req : undefined,
      dispatcher: agent,
    }).then(
      async (up) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        // The service answered before the body was all sent (a 401, a 413): the rest is not read.
        if (!req.complete) out.connection = 'close';
        res.writeHead(up.statusCode, out);
        try {
          for await (const chunk of up.body) res.write(chunk);
          res.end();
        } catch {
          res.destroy();
        }
      },
      (err: Error) => answerProblem(req, res, new ProblemError(502, 'BAD_GATEWAY', 'Bad gateway', `${service} did not answer: ${err.message}`)),
    );
  };
  // A request Node cannot parse (a control byte in a header, headers too large) gets a problem too.
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(rawProblemResponse(clientProblem(err.code)));
    socket.destroy();
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
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
