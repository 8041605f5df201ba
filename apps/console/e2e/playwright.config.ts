import path from 'node:path';
import { defineConfig } from '@playwright/test';

/**
 * The console's browser tests: Debian's Chromium (`/usr/bin/chromium`; Playwright's own browser
 * download cannot work here) against the real standalone app that `npm start` runs (embedded
 * PostgreSQL), started once for the run by the global setup. One worker: the flows share the app
 * (each in its own organisation) and the machine has two cores.
 */
export const CHROMIUM = process.env.WAYBILL_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: __dirname,
  testMatch: '*.browser.ts',
  outputDir: path.resolve(__dirname, '../../../tmp/console-test-output'),
  globalSetup: path.join(__dirname, 'support', 'global-setup.ts'),
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1366, height: 860 },
    permissions: ['clipboard-read', 'clipboard-write'],
    launchOptions: {
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
    trace: 'retain-on-failure',
  },
});
