/** Jest global teardown: stops what the global setup started, once. */
export default async function globalTeardown(): Promise<void> {
  const servers = globalThis.__WAYBILL_TEST_SERVERS__;
  globalThis.__WAYBILL_TEST_SERVERS__ = undefined;
  await servers?.stop();
}
