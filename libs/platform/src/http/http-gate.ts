import type { Socket } from 'node:net';
import { Inject, Injectable } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { textProblem } from '@waybill/contracts';
import { AccessReplica, Principal } from '../access/access.replica';
import { bearer } from '../access/guards';
import { secretsEqual } from '../access/api-key';
import { RouteAuth } from '../access/route-auth';
import { RateLimiter } from '../rate-limit/rate-limiter';
import type { WaybillConfig } from '../config/config';
import { CONFIG } from '../tokens';
import { FieldError, problemBody, ProblemError, Problems, rawProblemResponse } from './problem';

/** The body a route reads when it declares no other limit (bytes): JSON of a few fields. */
export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
/** The largest body any route reads (bytes): a batch of transactions. */
export const MAX_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
/** The longest path parameter (an id) the router takes; a longer one is a 400 (characters). */
export const MAX_PATH_PARAM_LENGTH = 100;

/**
 * The largest body a route reads (bytes), when not {@link DEFAULT_BODY_LIMIT_BYTES}: a body over
 * it is refused with 413 — by its `Content-Length` before a byte is read, or as soon as a chunked
 * body passes it.
 */
export const BodyLimit = (bytes: number): MethodDecorator => RouteConfig({ bodyLimit: Math.min(bytes, MAX_BODY_LIMIT_BYTES) });

/** Fastify `onRoute` hook: every route gets its declared body limit, or the default. */
export function applyBodyLimit(route: RouteOptions): void {
  const declared = (route.config as { bodyLimit?: number } | undefined)?.bodyLimit;
  route.bodyLimit = declared ?? DEFAULT_BODY_LIMIT_BYTES;
}

type GatedRequest = FastifyRequest & { principal?: Principal };

/**
 * What every request passes before its body is read (a Fastify `onRequest` hook): the key its
 * route takes, checked from the headers against the in-memory access replica (no database round
 * trip on a hit; a miss catches the replica up, bounded, before it answers 401), and its path
 * parameters and query values, which must be text (no control characters, no unpaired
 * surrogates). Without a valid key, a 30 MB body is never read: the 401 goes out at once and the
 * connection is closed behind it. A call with a key counts against its organisation's rate limit
 * here (429 before the body is read).
 */
@Injectable()
export class HttpGate {
  constructor(
    private readonly access: AccessReplica,
    private readonly routes: RouteAuth,
    private readonly limits: RateLimiter,
    @Inject(CONFIG) private readonly config: WaybillConfig,
  ) {}

  readonly onRequest = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    try {
      if (request.is404) throw new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.');
      const kind = this.routes.of(request.method, request.routeOptions.url);
      if (kind === 'apiKey') await this.authenticate(request as GatedRequest);
      else if (kind === 'adminKey') this.authenticateAdmin(request);
      const problems = [...textProblems('path', request.params), ...textProblems('query', request.query)];
      if (problems.length > 0) throw Problems.invalid(problems);
    } catch (err) {
      // A body the caller is still sending is not read: the connection closes after the answer.
      throw err instanceof ProblemError && hasBody(request) ? closing(err) : err;
    }
  };

  private async authenticate(request: GatedRequest): Promise<void> {
    const key = bearer(request);
    if (!key) throw Problems.unauthorized();
    const principal = await this.access.authenticate(key);
    if (!principal) throw Problems.unauthorized();
    // The organisation's rate limit, before the body is read too (`ApiKeyGuard` trusts this).
    const admission = this.limits.take(principal.orgId);
    if (!admission.allowed) {
      throw Problems.tooManyRequests('This organisation is over its rate limit; retry after the time in Retry-After.', admission.retryAfterS);
    }
    request.principal = principal;
  }

  private authenticateAdmin(request: FastifyRequest): void {
    if (!this.config.adminKey) throw new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.');
    const key = bearer(request);
    if (!key || !secretsEqual(key, this.config.adminKey)) throw Problems.unauthorized();
  }
}

/** The values of `params` or `query` that are not text, each named by its field path. */
export function textProblems(where: 'path' | 'query', values: unknown): FieldError[] {
  if (!values || typeof values !== 'object') return [];
  const problems: FieldError[] = [];
  for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      const nameProblem = textProblem(name);
      const problem = nameProblem ?? (typeof v === 'string' ? textProblem(v) : null);
      if (problem) {
        problems.push({ path: nameProblem ? where : `${where}.${name}`, message: problem });
        break;
      }
    }
  }
  return problems;
}

/**
 * Fastify's `frameworkErrors`: a path it cannot route (bad percent-encoding, a parameter longer
 * than {@link MAX_PATH_PARAM_LENGTH}) is a 400 problem like any other.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `a path segment is longer than ${MAX_PATH_PARAM_LENGTH} characters`
      : error.code === 'FST_ERR_BAD_URL'
        ? 'is not a valid URL path (bad percent-encoding or malformed UTF-8)'
        : 'cannot be routed';
  const problem = Problems.invalid([{ path: 'path', message }], `The path is not valid: ${message}.`);
  void reply.status(400).header('content-type', 'application/problem+json').send(problemBody(problem));
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError`): a request Node could not parse — a control
 * byte in a header, headers too large, a request that took too long — still gets a problem+json
 * answer before the connection closes.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) socket.write(rawProblemResponse(clientProblem(error.code)));
  socket.destroy();
}

/** The problem a request Node could not parse is, by the parser's error code. */
export function clientProblem(code: string | undefined): ProblemError {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ProblemError(408, 'REQUEST_TIMEOUT', 'Request timeout', 'The request took too long to arrive.');
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new ProblemError(431, 'HEADERS_TOO_LARGE', 'Request header fields too large', 'The request headers are larger than accepted.');
  }
  return Problems.invalid(
    [{ path: 'headers', message: 'are not valid HTTP (a control character in a header, or a malformed request line)' }],
    'The request is not valid HTTP.',
  );
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

function closing(p: ProblemError): ProblemError {
  return new ProblemError(p.status, p.code, p.title, p.detail, p.errors, { ...p.headers, connection: 'close' });
}
