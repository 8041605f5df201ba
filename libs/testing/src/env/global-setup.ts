import { ENV, startTestServers, TestServers } from './servers';

declare global {
  var __WAYBILL_TEST_SERVERS__: TestServers | undefined;
}

/** Jest global setup of the int and e2e tiers: one PostgreSQL and one Kafka for the whole run. */
export default async function globalSetup(): Promise<void> {
  if (globalThis.__WAYBILL_TEST_SERVERS__) return; // both tiers in one run share them
  const started = Date.now();
  const servers = await startTestServers();
  globalThis.__WAYBILL_TEST_SERVERS__ = servers;
  process.env[ENV.databaseUrl] = servers.databaseUrl;
  process.env[ENV.adminDatabaseUrl] = servers.adminDatabaseUrl;
  process.env[ENV.kafkaBrokers] = servers.kafkaBrokers;
  process.stderr.write(`\ntest servers up in ${Date.now() - started} ms: postgres and kafka ${servers.kafkaBrokers}\n`);
}
