import { mkdtemp, chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startWaybill } from '../../../../libs/testing/src/e2e/process';
import { ensureConsoleBuilt } from '../../../../tools/console/build';

export const ADMIN_KEY = 'console-admin-key-0123456789abcdef';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * Builds the console if its sources changed (cached), then starts Waybill as `npm start` does — the
 * standalone app on an embedded PostgreSQL in a fresh data directory — once for the whole run.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  await ensureConsoleBuilt();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-console-'));
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const waybill = await startWaybill('standalone', { PORT: String(port), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY });
  process.env.WAYBILL_URL = waybill.baseUrl;
  process.env.WAYBILL_ADMIN_KEY = ADMIN_KEY;
  return async () => {
    await waybill.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  };
}
