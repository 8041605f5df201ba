import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CONFIG } from '../tokens';
import type { WaybillConfig } from '../config/config';
import { ProblemError, Problems } from '../http/problem';
import { AccessReplica, Principal } from './access.replica';
import { secretsEqual } from './api-key';
import { RateLimiter } from '../rate-limit/rate-limiter';

type AuthedRequest = FastifyRequest & { principal?: Principal };

/** The API key of `Authorization: Bearer <key>`, if the request has one. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/**
 * `/v1` calls: the caller's organisation comes from its API key, and each call counts against the
 * organisation's rate limit (429 with Retry-After past it; see `RateLimiter`).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly access: AccessReplica,
    private readonly limits: RateLimiter,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    // Authenticated, and counted against the rate limit, by the request gate (`HttpGate`) already.
    if (req.principal) return true;
    const key = bearer(req);
    if (!key) throw Problems.unauthorized();
    const principal = await this.access.authenticate(key);
    if (!principal) throw Problems.unauthorized();
    const admission = this.limits.take(principal.orgId);
    if (!admission.allowed) {
      throw Problems.tooManyRequests('This organisation is over its rate limit; retry after the time in Retry-After.', admission.retryAfterS);
    }
    req.principal = principal;
    return true;
  }
}

/** The organisation endpoints: the deployment's admin key, and 404 when none is configured. */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: WaybillConfig) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (!this.config.adminKey) throw new ProblemError(404, 'NOT_FOUND', 'Not found', 'No such resource.');
    const key = bearer(ctx.switchToHttp().getRequest<FastifyRequest>());
    if (!key || !secretsEqual(key, this.config.adminKey)) throw Problems.unauthorized();
    return true;
  }
}

/** The authenticated caller's organisation id. */
export const OrgId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const principal = ctx.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw Problems.unauthorized();
  return principal.orgId;
});

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<AuthedRequest>().principal;
  if (!principal) throw Problems.unauthorized();
  return principal;
});
