import { Agent, errors } from 'undici';
import type { Exchange } from '@waybill/delivery';
import type { PartnerRequest } from '../../domain/partner-request';

/** Bytes of the partner's answer kept with the attempt. */
export const EXCERPT_BYTES = 1024;
/** Past this much answer we stop reading and drop the connection. */
const MAX_READ_BYTES = 64 * 1024;

export interface ExchangeResult {
  exchange: Exchange;
  durationMs: number;
  excerpt: string | null;
  error: string | null;
  retryAfter: string | null;
}

/**
 * Sends partner requests through undici: pooled keep-alive connections per origin, redirects never
 * followed, and the channel's timeout covering the whole exchange (connect, headers and body).
 */
export class PartnerClient {
  private readonly agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: 256,
    pipelining: 1,
    connect: { timeout: 10_000 },
  });

  async post(req: PartnerRequest, timeoutMs: number): Promise<ExchangeResult> {
    const started = performance.now();
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const url = new URL(req.url);
      const res = await this.agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'POST',
        headers: req.headers,
        body: req.body,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        maxRedirections: 0,
      } as Parameters<Agent['request']>[0]);
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
      const exchange = describeFailure(err, signal);
      return {
        exchange,
        durationMs: elapsed(started),
        excerpt: null,
        error: exchange.kind === 'timeout' ? `no answer within ${timeoutMs} ms` : `${exchange.kind === 'connection-error' ? exchange.code : ''}: ${(err as Error).message}`,
        retryAfter: null,
      };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string | null> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (keptBytes < EXCERPT_BYTES) {
      const part = chunk.subarray(0, EXCERPT_BYTES - keptBytes);
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

function describeFailure(err: unknown, signal: AbortSignal): Exchange {
  if (
    signal.aborted ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ConnectTimeoutError ||
    (err as Error).name === 'TimeoutError'
  ) {
    return { kind: 'timeout' };
  }
  const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? 'UNKNOWN';
  return { kind: 'connection-error', code };
}

function elapsed(started: number): number {
  return Math.max(0, Math.round(performance.now() - started));
}
