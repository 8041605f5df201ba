import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One tunnel a client asked the proxy for. */
export interface ConnectRequest {
  /** The CONNECT target as asked (`ip:port`, `[v6]:port`, or a name if a client sent one). */
  authority: string;
  proxyAuthorization: string | undefined;
  /** The client's address as the proxy saw it. */
  from: string | undefined;
}

/**
 * A real HTTP CONNECT proxy for tests (an egress proxy standing in for a deployment's): records
 * every tunnel asked for, opens it to the authority as given, and relays bytes both ways.
 */
export class ConnectProxy {
  readonly connects: ConnectRequest[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server: http.Server | null = null;
  private port = 0;
  /** The local address the proxy's own connections leave from: a partner can tell what came through it. */
  private upstreamAddress: string | undefined;

  /**
   * A proxy listening on 127.0.0.1; with `upstreamAddress` (another loopback address, say), the
   * tunnels it opens leave from there, so a receiver sees which requests came through it.
   */
  static async start(opts: { upstreamAddress?: string } = {}): Promise<ConnectProxy> {
    const p = new ConnectProxy();
    p.upstreamAddress = opts.upstreamAddress;
    await p.listen('127.0.0.1');
    return p;
  }

  /** The proxy's URL, as `WAYBILL_EGRESS_PROXY` takes it. */
  url(credentials?: string): string {
    return `http://${credentials ? `${credentials}@` : ''}127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async listen(host: string): Promise<void> {
    this.server = http.createServer((_req, res) => res.writeHead(405).end('CONNECT only'));
    this.server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => this.tunnel(req, client, head));
    await new Promise<void>((resolve) => this.server?.listen(0, host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private tunnel(req: http.IncomingMessage, client: net.Socket, head: Buffer): void {
    const authority = req.url ?? '';
    this.connects.push({ authority, proxyAuthorization: req.headers['proxy-authorization'], from: client.remoteAddress });
    this.track(client);
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(authority);
    if (!m) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const upstream = net.connect({ port: Number(m[2]), host: m[1], ...(this.upstreamAddress ? { localAddress: this.upstreamAddress } : {}) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    this.track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
  }
}
