import { rm } from 'node:fs/promises';
import path from 'node:path';
import { findFreePort, startEmbeddedPostgres } from '@waybill/persistence';
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

/** A Kafka broker a test has to itself, to kill and start again (on the same ports). */
export interface OwnKafka {
  brokers: string[];
  /** SIGKILL: the broker is gone at once, as in a crash. */
  kill(): void;
  /** Starts it again on its data and ports; resolves once it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a broker of the caller's own (slower than the shared one: only for a test or a run that
 * kills it). In `dataDir` when given (the caller keeps it), else in a new directory removed on stop.
 */
export async function startOwnKafka(opts: { dataDir?: string; log?: (line: string) => void } = {}): Promise<OwnKafka> {
  const workDir = opts.dataDir ? null : await newDataDir('waybill-own-kafka-');
  const dataDir = opts.dataDir ?? path.join(workDir as string, 'kafka');
  const [port, controllerPort] = [await findFreePort(), await findFreePort()];
  const start = () => startKafka({ dataDir, port, controllerPort, log: opts.log });
  let kafka = await start();
  return {
    brokers: kafka.brokers,
    kill: () => process.kill(kafka.pid, 'SIGKILL'),
    restart: async () => {
      kafka = await start();
    },
    stop: async () => {
      await kafka.stop().catch(() => undefined);
      if (workDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}
