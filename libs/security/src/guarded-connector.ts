import type { Socket } from 'node:net';
import { buildConnector, Client } from 'undici';
import { assertConnectable, guardedLookup, isIpLiteral, PrivateTargets, resolveConnectable } from './destination-guard';

/** Where partner connections leave from: the deployment's egress settings. */
export interface EgressOptions {
  /**
   * An HTTP CONNECT proxy every connection goes through (`http://host:port`, optionally with
   * `user:password@` for Proxy-Authorization). Its own address is not checked by the guard.
   */
  proxy?: string;
  /** The local address outgoing sockets are bound to (to the partner, or to the proxy). */
  sourceAddress?: string;
}

/**
 * An undici connector that applies the SSRF guard at connect time: IP literals and local names are
 * refused before any socket opens, and names are resolved through {@link guardedLookup}, so the
 * address connected to is the address checked (no DNS rebinding between check and connect).
 *
 * With an egress proxy, the target is resolved and checked here, and the proxy is asked to
 * CONNECT to the checked IP address — never to the name, which it could resolve elsewhere; TLS
 * then runs through the tunnel with the original host name (SNI and certificate check), and the
 * request keeps its `Host`. With a source address, every socket is bound to it.
 *
 * ```ts
 * new Agent({ connect: guardedConnector(config.allowPrivateTargets, { timeout: 10_000 }, { proxy, sourceAddress }) })
 * ```
 * A refused connection fails with `DestinationRefusedError` (`code: 'EDESTINATIONREFUSED'`).
 */
export function guardedConnector(
  allowPrivate: PrivateTargets,
  options: buildConnector.BuildOptions = {},
  egress: EgressOptions = {},
): buildConnector.connector {
  const connect = buildConnector({ ...options, ...(allowPrivate === true ? {} : { lookup: guardedLookup(allowPrivate) }) } as buildConnector.BuildOptions);
  const localAddress = egress.sourceAddress;
  if (!egress.proxy) {
    return (opts, callback) => {
      try {
        assertConnectable(opts.hostname, allowPrivate);
      } catch (err) {
        callback(err as Error, null);
        return;
      }
      connect(localAddress ? { ...opts, localAddress } : opts, callback);
    };
  }
  const tunnels = new ProxyTunnels(egress.proxy, localAddress, options.timeout ?? 10_000);
  return (opts, callback) => {
    void (async () => {
      const target = await resolveConnectable(opts.hostname, allowPrivate);
      const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
      const socket = await tunnels.open(target.family === 6 ? `[${target.address}]:${port}` : `${target.address}:${port}`);
      if (opts.protocol !== 'https:') return callback(null, socket);
      // TLS through the tunnel, for the name the URL gave (an IP literal sends no SNI).
      const servername = opts.servername || (isIpLiteral(opts.hostname) ? undefined : opts.hostname);
      connect({ ...opts, servername, httpSocket: socket }, callback);
    })().catch((err: Error) => callback(err, null));
  };
}

/** CONNECT tunnels through one HTTP proxy, by undici's own client (as its ProxyAgent opens them). */
class ProxyTunnels {
  private readonly client: Client;
  private readonly authorization: string | undefined;

  constructor(
    proxy: string,
    localAddress: string | undefined,
    private readonly timeoutMs: number,
  ) {
    const url = new URL(proxy);
    this.client = new Client(url.origin, { ...(localAddress ? { localAddress } : {}), connectTimeout: timeoutMs });
    this.authorization = url.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
  }

  /** A socket to `authority` (`ip:port`), tunnelled through the proxy. */
  async open(authority: string): Promise<Socket> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`the egress proxy did not open a tunnel within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const { socket, statusCode } = await this.client.connect({
        path: authority,
        headers: { host: authority, ...(this.authorization ? { 'proxy-authorization': this.authorization } : {}) },
        signal: controller.signal,
      });
      if (statusCode !== 200) {
        socket.destroy();
        throw Object.assign(new Error(`the egress proxy refused to CONNECT to ${authority} (${statusCode})`), { code: 'EPROXYCONNECT' });
      }
      return socket as Socket;
    } finally {
      clearTimeout(timer);
    }
  }
}
