import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { Principal } from '@waybill/platform';
import { ApiKeyUsage } from '../../application/api-key-usage';

/**
 * Notes the API key of every authenticated request this process serves (interceptors run after
 * the guards, so the principal is known). Registered app-wide: in the standalone app it sees the
 * calls of every module.
 */
@Injectable()
export class ApiKeyUsageInterceptor implements NestInterceptor {
  constructor(private readonly usage: ApiKeyUsage) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() === 'http') {
      const principal = ctx.switchToHttp().getRequest<{ principal?: Principal }>().principal;
      if (principal) this.usage.record(principal.apiKeyId);
    }
    return next.handle();
  }
}
