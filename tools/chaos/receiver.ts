import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How a partner of the chaos run behaves, by the first segment of its path (`/ok/3`). */
export type Behaviour = 'ok' | 'dispatch' | 'reject' | 'flaky' | 'hang' | 'batch';

/** One delivery (one attempt of one transaction) as the partner received it. */
export interface Arrival {
  behaviour: Behaviour;
  transactionId: string;
  deliveryId: string;
  attempt: number;
  at: number;
  /** Which process sent it (`dispatcher#2`), when the receiver could tell; null otherwise. */
  from: string | null;
}

/**
 * The partners of the chaos run: one loopback HTTP server that answers by the path's behaviour —
 * `ok` and `batch` 200, `dispatch` 202, `reject` 400, `flaky` 500 on a first attempt and 200
 * after, `hang` never — and records every delivery it gets (each item of a batch). It can be
 * stopped and started again on the same port, as a partner's outage.
 */
export class ChaosReceiver {
  readonly arrivals: Arrival[] = [];
  /** The sender of each connection, by the connection's remote port. */
  private readonly senders = new Map<number, string | null>();
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  /** `identify(remotePort, localPort)` names the process behind a new connection (see `senderOf`). */
  constructor(private readonly identify: (remotePort: number, localPort: number) => string | null = () => null) {}

  url(behaviour: Behaviour, n: number): string {
    return `http://127.0.0.1:${this.port}/${behaviour}/${n}`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => this.onRequest(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      if (s.remotePort) this.senders.set(s.remotePort, this.identify(s.remotePort, this.port));
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the server and every connection (requests in flight are cut off). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const behaviour = (req.url ?? '/').split('/')[1] as Behaviour;
      const attempt = Number(req.headers['waybill-attempt'] ?? 1);
      const at = Date.now();
      const from = this.senders.get(req.socket.remotePort ?? 0) ?? null;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body;
        for (const item of body.items ?? [body]) {
          this.arrivals.push({ behaviour, transactionId: item.id, deliveryId: item.delivery.id, attempt: item.delivery.attempt, at, from });
        }
      } catch {
        // not a delivery of ours: answered all the same
      }
      switch (behaviour) {
        case 'hang':
          return; // never answered: the attempt times out
        case 'dispatch':
          return void res.writeHead(202).end('queued');
        case 'reject':
          return void res.writeHead(400).end('bad order');
        case 'flaky':
          return void res.writeHead(attempt === 1 ? 500 : 200).end(attempt === 1 ? 'down' : 'ok');
        default:
          return void res.writeHead(200).end('ok');
      }
    });
  }
}

interface Item {
  id: string;
  delivery: { id: string; attempt: number };
}
type Body = Item & { items?: Item[] };
