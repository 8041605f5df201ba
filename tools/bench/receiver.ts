/**
 * The bench's partner: a loopback HTTP receiver in its own process, so that its work is not
 * counted against the bench driver or Waybill. Answers 200 (keep-alive) by default; per path it can
 * hang forever or answer 500. Counts requests per path, the distinct transactions answered 200,
 * first/last arrival times, and (when asked) each transaction's arrival time.
 *
 * Prints one line `{"port":N}` on stdout once listening. Control (on the same port, under /_ctl):
 *   POST /_ctl/behaviour {"hang":[paths],"fail":[paths]}   GET /_ctl/stats   POST /_ctl/reset
 *   POST /_ctl/record {"on":true|false}                     GET /_ctl/arrivals
 * Exits when stdin closes (its parent went away) or on SIGTERM.
 */
import http from 'node:http';

const now = (): number => performance.timeOrigin + performance.now();

interface PathStats {
  requests: number;
  ok: number;
  okFirst: number;
  okLast: number;
}

let hang = new Set<string>();
let fail = new Set<string>();
let paths = new Map<string, PathStats>();
let okTx = new Set<string>();
let duplicates = 0;
let requests = 0;
let firstOk = 0;
let lastOk = 0;
let recording = false;
let arrivals = new Map<string, number>();
const hanging = new Set<http.ServerResponse>();

function reset(): void {
  for (const res of hanging) res.destroy();
  hanging.clear();
  hang = new Set();
  fail = new Set();
  paths = new Map();
  okTx = new Set();
  duplicates = 0;
  requests = 0;
  firstOk = 0;
  lastOk = 0;
  recording = false;
  arrivals = new Map();
}

function json(res: http.ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

async function control(req: http.IncomingMessage, res: http.ServerResponse, url: string): Promise<void> {
  if (url === '/_ctl/stats') {
    return json(res, { requests, delivered: okTx.size, duplicates, firstOk, lastOk, hanging: hanging.size, paths: Object.fromEntries(paths) });
  }
  if (url === '/_ctl/arrivals') return json(res, Object.fromEntries(arrivals));
  const body = JSON.parse((await readBody(req)) || '{}');
  if (url === '/_ctl/reset') {
    reset();
    return json(res, { ok: true });
  }
  if (url === '/_ctl/behaviour') {
    hang = new Set(body.hang ?? []);
    fail = new Set(body.fail ?? []);
    return json(res, { ok: true });
  }
  if (url === '/_ctl/record') {
    recording = Boolean(body.on);
    return json(res, { ok: true });
  }
  res.writeHead(404).end();
}

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/_ctl/')) {
    control(req, res, url).catch((err) => {
      res.writeHead(500).end(String(err));
    });
    return;
  }
  const t = now();
  requests++;
  let p = paths.get(url);
  if (!p) paths.set(url, (p = { requests: 0, ok: 0, okFirst: 0, okLast: 0 }));
  p.requests++;
  const stats = p;
  // Drain the body without keeping it: the partner's work is not what is measured.
  req.on('data', () => undefined);
  req.on('end', () => {
    if (hang.has(url)) {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (fail.has(url)) {
      res.writeHead(500, { 'content-type': 'text/plain', 'content-length': 4 });
      res.end('fail');
      return;
    }
    const tx = req.headers['waybill-transaction-id'];
    const id = typeof tx === 'string' ? tx : undefined;
    if (id) {
      if (okTx.has(id)) duplicates++;
      else okTx.add(id);
      if (recording && !arrivals.has(id)) arrivals.set(id, t);
    }
    stats.ok++;
    if (!stats.okFirst) stats.okFirst = t;
    stats.okLast = t;
    if (!firstOk) firstOk = t;
    lastOk = t;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 });
    res.end('{"ok":true}');
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.maxConnections = 20_000;

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});

const quit = (): void => {
  for (const res of hanging) res.destroy();
  server.close();
  process.exit(0);
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
process.stdin.on('end', quit);
process.stdin.on('close', quit);
process.stdin.resume();
