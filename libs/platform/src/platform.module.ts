import { DynamicModule, Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { Logger } from 'pino';
import { ConsumerGroups, MessageTransport, MessagingClient } from '@waybill/messaging';
import { SecretBox } from '@waybill/security';
import { CONFIG, LOGGER, TRANSPORT } from './tokens';
import type { WaybillConfig } from './config/config';
import { AccessReplica } from './access/access.replica';
import { AdminKeyGuard, ApiKeyGuard } from './access/guards';
import { RouteAuth } from './access/route-auth';
import { HttpGate } from './http/http-gate';
import { HealthController, HealthRegistry } from './health/health';
import { DataSourceCloser } from './service-database';
import { OpenApiModule } from './openapi/openapi.module';
import { MetricsModule } from './metrics/metrics.module';
import { RateLimiter } from './rate-limit/rate-limiter';

export interface PlatformOptions {
  config: WaybillConfig;
  logger: Logger;
  transport: MessageTransport;
  /** The transport strategy that serves the app's `@EventPattern` handlers: its groups, for read-your-writes. */
  consumers: ConsumerGroups;
}

/**
 * What every service module finds in its process, whether it runs alone or inside `standalone`:
 * configuration, the logger, the transport (the port, its consumer groups and a `ClientProxy`),
 * authentication and health. Created by the app's bootstrap, which owns the transport's life.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(opts: PlatformOptions): DynamicModule {
    return {
      module: PlatformModule,
      imports: [DiscoveryModule, OpenApiModule, MetricsModule],
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: opts.config },
        { provide: LOGGER, useValue: opts.logger },
        { provide: TRANSPORT, useValue: opts.transport },
        { provide: ConsumerGroups, useValue: opts.consumers },
        { provide: MessagingClient, useValue: new MessagingClient(opts.transport) },
        { provide: SecretBox, useValue: new SecretBox(opts.config.secretKey as string) },
        AccessReplica,
        RateLimiter,
        ApiKeyGuard,
        AdminKeyGuard,
        RouteAuth,
        HttpGate,
        HealthRegistry,
        DataSourceCloser,
      ],
      exports: [CONFIG, LOGGER, TRANSPORT, ConsumerGroups, MessagingClient, SecretBox, AccessReplica, RateLimiter, ApiKeyGuard, AdminKeyGuard, HealthRegistry, DataSourceCloser, MetricsModule],
    };
  }
}
