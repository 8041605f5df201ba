import { FactoryProvider, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { openServiceDataSource, ServiceDataSourceOptions } from '@waybill/persistence';
import { CONFIG } from './tokens';
import type { WaybillConfig } from './config/config';
import { HealthRegistry } from './health/health';
import { postgresUnreachable } from './startup-errors';

/**
 * A provider of a service's own data source (its schema, its migrations run at start-up),
 * checked by `/health/ready` and closed at shutdown after the consumers have stopped.
 */
export function serviceDatabase(
  token: symbol,
  opts: Omit<ServiceDataSourceOptions, 'url'>,
): FactoryProvider<Promise<DataSource>> {
  return {
    provide: token,
    inject: [CONFIG, HealthRegistry, DataSourceCloser],
    useFactory: async (config: WaybillConfig, health: HealthRegistry, closer: DataSourceCloser) => {
      if (!config.databaseUrl) throw new Error('DATABASE_URL is not set');
      const ds = await openServiceDataSource({ ...opts, url: config.databaseUrl }).catch((err: Error) => {
        throw postgresUnreachable(config.databaseUrl as string, err);
      });
      health.register(`postgres:${opts.schema}`, () => ds.query('SELECT 1'));
      closer.add(ds);
      return ds;
    },
  };
}

/** Closes the data sources last, once every module has stopped its work. */
@Injectable()
export class DataSourceCloser implements OnApplicationShutdown {
  private readonly sources: DataSource[] = [];
  add(ds: DataSource): void {
    this.sources.push(ds);
  }
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.sources.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
  }
}

