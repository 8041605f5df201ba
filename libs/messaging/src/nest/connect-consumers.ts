import { ArgumentsHost, Catch, INestApplication, RpcExceptionFilter } from '@nestjs/common';
import { CustomStrategy, NestMicroservice } from '@nestjs/microservices';
import { Observable, throwError } from 'rxjs';
import type { MessagingServer } from './messaging.server';

/**
 * Hands a consumer's error back to the transport as it was thrown. Nest's default filter logs it
 * and replaces it by `{ status: 'error', message: 'Internal server error' }`; the transport logs
 * it itself (with the group, topic and partition) and retries the batch.
 */
@Catch()
export class ConsumerErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}

/**
 * Makes `app` a hybrid application whose event handlers (`@EventPattern`) are served by `server`.
 * Call before `app.init()`; `app.startAllMicroservices()` then subscribes every group, and
 * `app.close()` stops them (after the HTTP server, before the `onApplicationShutdown` hooks).
 */
export function connectConsumers(app: INestApplication, server: MessagingServer): void {
  // Deferred: the handlers are bound when the consumers start, after the filter below is in place.
  const consumers = app.connectMicroservice<CustomStrategy>({ strategy: server }, { deferInitialization: true }) as NestMicroservice;
  consumers.useGlobalFilters(new ConsumerErrors());
  // The microservice shares the app's modules, whose lifecycle hooks the app runs: not twice.
  consumers.setIsInitHookCalled(true);
}
