import http from 'node:http';
import { Agent, request } from 'undici';
import { serviceFor, ServiceName } from '@waybill/platform';

export type Upstreams = Record<ServiceName, string>;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

/**
 * The edge router of the distributed mode on a machine without nginx: one origin for the public
 * API, each path proxied to the service that owns it (see `serviceFor`).
 */
export function startEdge(port: number, upstreams: Upstreams, host = '127.0.0.1'): Promise<http.Server> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  const server = http.createServer((req, res) => {
    if (req.url === '/health/live' || req.url === '/health/ready') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    const service = serviceFor(req.method ?? 'GET', req.url ?? '/');
    if (!service) {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Not found', status: 404, detail: 'No such resource.' }));
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
        res.writeHead(up.statusCode, out);
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      },
      (err: Error) => {
        res.writeHead(502, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Bad gateway', status: 502, detail: `${service}: ${err.message}` }));
      },
    );
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
