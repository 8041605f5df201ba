import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { findFreePort } from '@waybill/persistence';
import { createTestDatabase, testKafkaBrokers, uniqueName } from '../env/test-env';
import { startWaybill, WaybillProcess } from './process';

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice, not a guess). */
export function freePort(): Promise<number> {
  return findFreePort();
}

/**
 * Stops a process started by `startWaybill`: `signal` (SIGTERM, a clean shutdown) first and, if it
 * has not exited within `graceMs`, SIGKILL. Resolves with how it ended. Safe on an ended process.
 */
export async function stopWaybill(proc: WaybillProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<number | string | undefined> {
  if (!proc) return undefined;
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.exited;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const first = await Promise.race([proc.stop(signal), late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  return proc.stop('SIGKILL');
}

/**
 * Lay this over a process's environment so that it runs as a user's `npm start` does: Jest sets
 * NODE_ENV=test, which `startWaybill` passes on, and which changes how libraries behave (kafkajs
 * switches to its test retry timings: 1 s at most between retries instead of 30 s).
 */
export const AS_A_USER_RUNS_IT: Readonly<Record<string, string>> = { NODE_ENV: '' };

/** The four services of the distributed mode, each its own process. */
export const SERVICE_APPS = ['channel-registry', 'relationship-routing', 'dispatcher', 'status-projection'] as const;
export type ServiceApp = (typeof SERVICE_APPS)[number];

/**
 * The environment every service process of one distributed deployment shares: the test Kafka
 * broker under a namespace of its own, a new database, a fresh secret key and the admin key
 * (and no NODE_ENV=test, see {@link AS_A_USER_RUNS_IT}).
 * Give each process its own PORT on top.
 */
export async function distributedEnv(adminKey = `wba_${randomBytes(18).toString('base64url')}`): Promise<Record<string, string>> {
  return {
    ...AS_A_USER_RUNS_IT,
    KAFKA_BROKERS: testKafkaBrokers().join(','),
    WAYBILL_KAFKA_NAMESPACE: uniqueName('e2e'),
    DATABASE_URL: await createTestDatabase(),
    WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
    WAYBILL_ADMIN_KEY: adminKey,
  };
}

/**
 * Starts the given service apps (all four by default) as separate processes on free ports, side
 * by side, with `env`; resolves once every one is ready. If one cannot start, the others are
 * stopped and the error is thrown. The caller stops them (`stopWaybill`) in `afterAll`.
 */
export async function startServices<A extends ServiceApp = ServiceApp>(
  env: Record<string, string>,
  apps: readonly A[] = SERVICE_APPS as unknown as readonly A[],
  readyTimeoutMs = 60_000,
): Promise<Record<A, WaybillProcess>> {
  const started = await Promise.allSettled(
    apps.map(async (app) => startWaybill(app, { ...env, PORT: String(await freePort()) }, readyTimeoutMs)),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? stopWaybill(s.value, 'SIGKILL') : undefined)));
    throw failed.reason;
  }
  return Object.fromEntries(
    apps.map((app, i) => [app, (started[i] as PromiseFulfilledResult<WaybillProcess>).value]),
  ) as Record<A, WaybillProcess>;
}

const ROOT = path.resolve(__dirname, '../../../..');

/**
 * Safety net for `afterAll`: SIGKILLs, by pid, the Waybill app processes (`apps/<app>/src/main.ts`,
 * `tools/distributed/start.ts`) that this test process started and that are still running, e.g.
 * one whose `startWaybill` was still waiting for readiness when a hook timed out, so nothing it
 * started outlives the test file. Returns the pids it killed.
 */
export async function killStrayWaybillChildren(): Promise<number[]> {
  if (process.platform !== 'linux') return [];
  const entry = new RegExp(`^${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(apps/[^/]+/src/main|tools/distributed/start)\\.ts$`);
  const killed: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== process.pid || state === 'Z') continue;
      const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      if (!argv.some((a) => entry.test(a))) continue;
      process.kill(Number(name), 'SIGKILL');
      killed.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}
