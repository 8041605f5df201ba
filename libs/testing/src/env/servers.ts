import { rm } from 'node:fs/promises';
import path from 'node:path';
import { startEmbeddedPostgres } from '@waybill/persistence';
import { startKafka } from '@waybill/kafka-local';
import { newDataDir } from './data-dir';

/** Environment variables through which the global setup hands its servers to the test files. */
export const ENV = {
  /** The application role (not a superuser) on the `waybill` database. */
  databaseUrl: 'WAYBILL_TEST_DATABASE_URL',
  /** The cluster's superuser: only the harness uses it, to make each test file's database. */
  adminDatabaseUrl: 'WAYBILL_TEST_ADMIN_DATABASE_URL',
  kafkaBrokers: 'WAYBILL_TEST_KAFKA_BROKERS',
} as const;

export interface TestServers {
  databaseUrl: string;
  adminDatabaseUrl: string;
  kafkaBrokers: string;
  stop(): Promise<void>;
}

/**
 * Starts the real PostgreSQL and the real Kafka broker that integration and end-to-end tests use,
 * in a temporary directory, with the project's own launchers.
 */
export async function startTestServers(log: (line: string) => void = () => undefined): Promise<TestServers> {
  const workDir = await newDataDir('waybill-test-');
  const [pg, kafka] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(workDir, 'postgres'), database: 'waybill' }),
    startKafka({ dataDir: path.join(workDir, 'kafka'), log }),
  ]);
  return {
    databaseUrl: pg.url,
    adminDatabaseUrl: pg.adminUrl,
    kafkaBrokers: kafka.brokers.join(','),
    stop: async () => {
      await Promise.allSettled([kafka.stop(), pg.stop()]);
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
