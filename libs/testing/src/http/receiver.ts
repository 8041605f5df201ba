import http, { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How the receiver answers one request. */
export type Answer =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { hang: true }
  | { slowMs: number; status: number }
  | { reset: true };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** The address the request came from (the sender's source address, or the proxy's). */
  remoteAddress: string | undefined;
}

/**
 * A real HTTP server standing in for a partner. Answers by script: per path, a queue of answers
 * (then the path's default, then 200). Records every request it gets.
 */
export class PartnerReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly scripts = new Map<string, Answer[]>();
  private readonly defaults = new Map<string, Answer>();
  private readonly sockets = new Set<Socket>();
  private waiters: Array<() => void> = [];
  private server: http.Server | null = null;
  private port = 0;

  private host = '127.0.0.1';

  /** A receiver listening on `host` (a loopback address: 127.0.0.1 unless told). */
  static async start(host = '127.0.0.1'): Promise<PartnerReceiver> {
    const r = new PartnerReceiver();
    r.host = host;
    await r.listen();
    return r;
  }

  /** The URL of `path` on this receiver. */
  url(path = '/hook'): string {
    return `http://${this.host}:${this.port}${path}`;
  }

  /** The port it listens on. */
  get listeningPort(): number {
    return this.port;
  }

  /** Answers the next requests to `path` with `answers`, in order. */
  script(path: string, ...answers: Answer[]): void {
    this.scripts.set(path, [...(this.scripts.get(path) ?? []), ...answers]);
  }

  /** Answers every request to `path` with `answer` once its script is spent. */
  always(path: string, answer: Answer): void {
    this.defaults.set(path, answer);
  }

  requestsTo(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Resolves once `count` requests matched `filter`; rejects after `timeoutMs`. */
  async waitFor(count: number, filter: (r: ReceivedRequest) => boolean = () => true, timeoutMs = 20_000): Promise<ReceivedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matched = this.requests.filter(filter);
      if (matched.length >= count) return matched;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`receiver: ${matched.length} of ${count} requests after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async listen(): Promise<void> {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      this.requests.push({
        method: req.method ?? '',
        path,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        remoteAddress: req.socket.remoteAddress,
      });
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      const answer = this.scripts.get(path)?.shift() ?? this.defaults.get(path) ?? { status: 200, body: 'ok' };
      this.answer(answer, req, res);
    });
  }

  private answer(a: Answer, req: http.IncomingMessage, res: http.ServerResponse): void {
    if ('hang' in a) return; // never answers; the socket is destroyed at stop
    if ('reset' in a) {
      req.socket.destroy();
      return;
    }
    if ('slowMs' in a) {
      setTimeout(() => res.writeHead(a.status).end('slow'), a.slowMs);
      return;
    }
    res.writeHead(a.status, a.headers).end(a.body ?? '');
  }
}
