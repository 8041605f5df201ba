import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { freePort, newDataDir, startWaybill } from '@waybill/testing';

export const ADMIN_KEY = 'console-admin-key-0123456789abcdef';

const ROOT = path.resolve(__dirname, '../../../..');

/**
 * Builds the console if its sources changed (cached), then starts Waybill as `npm start` does — the
 * standalone app on an embedded PostgreSQL in a fresh data directory — once for the whole run.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  // The same cached build as `npm install`'s (tools/console/build.ts): nothing to do when unchanged.
  execFileSync(process.execPath, ['-r', '@swc-node/register', 'tools/console/build.ts'], { cwd: ROOT, stdio: 'inherit' });
  const dataDir = await newDataDir('waybill-console-');
  const port = await freePort();
  const waybill = await startWaybill('standalone', { PORT: String(port), WAYBILL_DATA_DIR: dataDir, WAYBILL_ADMIN_KEY: ADMIN_KEY });
  process.env.WAYBILL_URL = waybill.baseUrl;
  process.env.WAYBILL_ADMIN_KEY = ADMIN_KEY;
  return async () => {
    await waybill.stop('SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  };
}
