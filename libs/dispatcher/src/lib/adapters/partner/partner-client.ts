import { setMaxListeners } from 'node:events';
import { Agent, Dispatcher, errors } from 'undici';
import type { Exchange } from '@waybill/delivery';
import { EgressOptions, guardedConnector, PrivateTargets } from '@waybill/security';
import type { PartnerRequest } from '../../domain/partner-request';
import type { PartnerConnections } from '../../application/engine/ports';

/** Bytes of the partner's answer kept with the attempt. */
export const EXCERPT_BYTES = 1024;
/** Past this much answer we stop reading and drop the connection. */
const MAX_READ_BYTES = 64 * 1024;
/** The SSRF guard's error code (`@waybill/security`). */
const REFUSED = 'EDESTINATIONREFUSED';

export interface ExchangeResult {
  exchange: Exchange;
  durationMs: number;
  excerpt: string | null;
  error: string | null;
  retryAfter: string | null;
}

/** A POST's answer read whole (bounded), for token endpoints. */
export interface ReadAnswer {
  statusCode: number;
  body: string;
}

export interface PartnerClientOptions {
  /** Connect to loopback, private and other non-public addresses: none, all (development, tests), or these CIDR ranges. */
  allowPrivateTargets: PrivateTargets;
  /** The egress proxy and source address every partner connection goes through (token and alert requests too). */
  egress?: EgressOptions;
  /**
   * Sockets per origin: more than the dispatcher can have in flight (its budget decides; sockets
   * held by hanging requests must never keep a healthy channel on the same origin waiting).
   */
  connectionsPerOrigin: number;
}

/**
 * Sends partner requests through undici: pooled keep-alive connections per origin, redirects never
 * followed, the channel's timeout covering the whole exchange (connect, headers and body), and the
 * SSRF guard at connect time (a name that now resolves to a private address is refused).
 */
export class PartnerClient implements PartnerConnections {
  private readonly agent: Agent;

  constructor(opts: PartnerClientOptions) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connections: opts.connectionsPerOrigin,
      pipelining: 1,
      connect: guardedConnector(opts.allowPrivateTargets, { timeout: 10_000 }, opts.egress),
    });
  }

  /**
   * One exchange, never throwing: an answer, or why there was none. `abort` (shutdown) ends it
   * early; the caller tells that apart from a timeout by its own signal.
   */
  async post(req: PartnerRequest, timeoutMs: number, abort?: AbortSignal): Promise<ExchangeResult> {
    const started = performance.now();
    const deadline = new Deadline(timeoutMs, abort);
    try {
      const res = await this.send(req, timeoutMs, deadline.signal);
      const excerpt = await readExcerpt(res.body);
      const retryAfter = res.headers['retry-after'];
      return {
        exchange: { kind: 'answered', statusCode: res.statusCode },
        durationMs: elapsed(started),
        excerpt,
        error: null,
        retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
      };
    } catch (err) {
      return { ...describeFailure(err, deadline.expired, timeoutMs), durationMs: elapsed(started), excerpt: null, retryAfter: null };
    } finally {
      deadline.clear();
    }
  }

  /** A POST whose answer is read whole, up to 64 KiB (token endpoints). Throws when there is no answer. */
  async postForAnswer(req: PartnerRequest, timeoutMs: number, abort?: AbortSignal): Promise<ReadAnswer> {
    const deadline = new Deadline(timeoutMs, abort);
    try {
      const res = await this.send(req, timeoutMs, deadline.signal);
      const chunks: Buffer[] = [];
      let read = 0;
      for await (const chunk of res.body) {
        read += chunk.length;
        if (read > MAX_READ_BYTES) {
          res.body.destroy();
          throw new Error(`answer larger than ${MAX_READ_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
      return { statusCode: res.statusCode, body: Buffer.concat(chunks).toString('utf8') };
    } finally {
      deadline.clear();
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private send(req: PartnerRequest, timeoutMs: number, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const url = new URL(req.url);
    return this.agent.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }
}

/** Signals already allowed any number of listeners (one per exchange in flight). */
const unlimited = new WeakSet<AbortSignal>();

/**
 * One exchange's end: its timeout or the caller's abort, whichever comes first, on one signal.
 * Cleared as soon as the exchange ends: `AbortSignal.timeout` cannot be, and at thousands of
 * requests a second its timers and signals, kept for the whole timeout, weigh on memory and GC
 * (so does `AbortSignal.any`).
 */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: (() => void) | null = null;
  expired = false;

  constructor(
    timeoutMs: number,
    private readonly abort?: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    if (abort) {
      if (abort.aborted) this.controller.abort(abort.reason);
      else {
        if (!unlimited.has(abort)) {
          setMaxListeners(0, abort);
          unlimited.add(abort);
        }
        this.onAbort = () => this.controller.abort(abort.reason);
        abort.addEventListener('abort', this.onAbort, { once: true });
      }
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  clear(): void {
    clearTimeout(this.timer);
    if (this.onAbort) this.abort?.removeEventListener('abort', this.onAbort);
  }
}

async function readExcerpt(body: Dispatcher.ResponseData['body']): Promise<string | null> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (keptBytes < EXCERPT_BYTES) {
      const part = (chunk as Buffer).subarray(0, EXCERPT_BYTES - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
    if (read > MAX_READ_BYTES) {
      body.destroy();
      break;
    }
  }
  return keptBytes === 0 ? null : Buffer.concat(kept).toString('utf8');
}

function describeFailure(err: unknown, expired: boolean, timeoutMs: number): { exchange: Exchange; error: string } {
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? 'UNKNOWN';
  if (code === REFUSED) return { exchange: { kind: 'refused' }, error: e.message };
  if (
    expired ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ConnectTimeoutError ||
    e.name === 'TimeoutError'
  ) {
    return { exchange: { kind: 'timeout' }, error: `no answer within ${timeoutMs} ms` };
  }
  return { exchange: { kind: 'connection-error', code }, error: `${code}: ${e.message}` };
}

/** Whole ms since `started` (a `performance.now()`). */
export function elapsed(started: number): number {
  return Math.max(0, Math.round(performance.now() - started));
}
