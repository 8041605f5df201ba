/**
 * Stopping and cleaning up PostgreSQL processes of one cluster directory.
 *
 * The postmaster is a child of the Node process that started it, but it is not
 * killed with it: after a SIGKILL of Node it is re-parented to init and keeps
 * the cluster locked. The next start therefore looks at `postmaster.pid` first.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  errnoCode,
  findClusterProcesses,
  findInitdbProcesses,
  hasExited,
  hasProcFs,
  isPostmasterFor,
  readProcess,
  sendSignal,
  waitUntilGone,
  type ProcessInfo,
} from './proc';
import type { LauncherLog } from './launcher-log';

/** Fast shutdown (SIGINT) rolls back sessions and writes a checkpoint; allow it time on a slow disk. */
const FAST_SHUTDOWN_MS = 30_000;
/** Immediate shutdown (SIGQUIT) skips the checkpoint; the next start replays WAL, nothing committed is lost. */
const IMMEDIATE_SHUTDOWN_MS = 10_000;
/** After SIGKILL only the kernel is left; longer means something is badly wrong. */
const KILL_MS = 5_000;
/** Longest {@link shutdownPostmaster} waits before giving up, in milliseconds. */
export const SHUTDOWN_BUDGET_MS = FAST_SHUTDOWN_MS + IMMEDIATE_SHUTDOWN_MS + KILL_MS;

const LOCK_FILE = 'postmaster.pid';

/** What matters here of `postmaster.pid` (its first line). */
export interface PostmasterLock {
  pid: number;
}

/** Reads `<clusterDir>/postmaster.pid`, or undefined when the file is absent or unreadable garbage. */
export async function readPostmasterLock(clusterDir: string): Promise<PostmasterLock | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(clusterDir, LOCK_FILE), 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.split('\n', 1)[0]);
  // A postmaster may be killed mid-write; an empty or partial file is as good as absent.
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid };
}

/**
 * Makes `clusterDir` startable after an unclean end of the previous owner:
 * - a live postmaster for this directory whose launcher died is shut down;
 * - one whose launcher (a Node process) still runs is left alone and reported,
 *   because stopping it would pull the database from under a working process;
 * - a lock file naming a dead pid is left for PostgreSQL, which replaces it
 *   itself and also removes the old shared-memory segment named in it;
 * - a lock file naming a zombie or a recycled pid is removed, since PostgreSQL
 *   would take such a pid for a live postmaster and refuse to start;
 * - orphaned backends still working in the directory are stopped.
 * @returns true when an orphaned postmaster had to be stopped.
 */
export async function recoverCluster(clusterDir: string, log: LauncherLog): Promise<boolean> {
  if (!hasProcFs()) {
    log.debug('no /proc on this platform; leaving stale-lock handling to PostgreSQL', { clusterDir });
    return false;
  }
  const lock = await readPostmasterLock(clusterDir);
  const stoppedOrphan = lock ? await resolveLock(clusterDir, lock, log) : false;
  await stopLeftoverBackends(clusterDir, log);
  return stoppedOrphan;
}

async function resolveLock(clusterDir: string, lock: PostmasterLock, log: LauncherLog): Promise<boolean> {
  const holder = await readProcess(lock.pid);
  if (holder === undefined) {
    log.debug('postmaster.pid names a process that is gone; PostgreSQL will replace it', { pid: lock.pid });
    return false;
  }
  if (isPostmasterFor(holder, clusterDir)) {
    await assertOrphaned(holder, clusterDir);
    log.warn('stopping a PostgreSQL server left running by a launcher that died', {
      pid: holder.pid,
      clusterDir,
    });
    await shutdownPostmaster(holder.pid, clusterDir, log);
    return true;
  }
  await stopLeftoverBackends(clusterDir, log);
  await rm(path.join(clusterDir, LOCK_FILE), { force: true });
  log.info('removed a stale postmaster.pid whose pid now belongs to another process', {
    pid: lock.pid,
    holder: hasExited(holder) ? 'zombie' : holder.argv.join(' '),
  });
  return false;
}

/**
 * Throws when the postmaster's parent is a live Node process, i.e. another
 * launcher still owns this cluster. An orphan's parent is init or a subreaper.
 */
async function assertOrphaned(postmaster: ProcessInfo, clusterDir: string): Promise<void> {
  if (postmaster.ppid === process.pid) {
    throw new Error(
      `PostgreSQL for ${clusterDir} was already started by this process (pid ${postmaster.pid}); stop that handle first`,
    );
  }
  if (postmaster.ppid <= 1) return;
  const parent = await readProcess(postmaster.ppid);
  const parentBinary = parent?.argv[0];
  if (!hasExited(parent) && parentBinary !== undefined && /^node/.test(path.basename(parentBinary))) {
    throw new Error(
      `PostgreSQL for ${clusterDir} (pid ${postmaster.pid}) is in use by live process ${postmaster.ppid} ` +
        `(${parent?.argv.join(' ')}); stop that process first`,
    );
  }
}

/**
 * Shuts a postmaster down and waits until it has exited: fast shutdown first,
 * then immediate shutdown, then SIGKILL, each after a bound. Before every signal
 * the pid is re-checked, so a recycled pid is never signalled.
 * @throws when the process survives SIGKILL for {@link KILL_MS} ms.
 */
export async function shutdownPostmaster(pid: number, clusterDir: string, log: LauncherLog): Promise<void> {
  const steps: ReadonlyArray<[NodeJS.Signals, number]> = [
    ['SIGINT', FAST_SHUTDOWN_MS],
    ['SIGQUIT', IMMEDIATE_SHUTDOWN_MS],
    ['SIGKILL', KILL_MS],
  ];
  for (const [signal, boundMs] of steps) {
    if (!isPostmasterFor(await readProcess(pid), clusterDir)) return;
    if (signal !== 'SIGINT') log.warn(`postmaster did not stop in time; sending ${signal}`, { pid, clusterDir });
    sendSignal(pid, signal);
    if (await waitUntilGone(pid, boundMs)) return;
  }
  throw new Error(`PostgreSQL postmaster ${pid} for ${clusterDir} survived SIGKILL`);
}

/**
 * Stops `postgres` processes still working in `clusterDir` without a postmaster
 * (backends of a killed postmaster, or a bootstrap backend of a killed initdb).
 * SIGQUIT makes a backend exit at once; SIGKILL follows after a bound.
 */
export async function stopLeftoverBackends(clusterDir: string, log: LauncherLog): Promise<void> {
  for (const signal of ['SIGQUIT', 'SIGKILL'] as const) {
    const pids = await findClusterProcesses(clusterDir);
    if (pids.length === 0) return;
    log.warn(`sending ${signal} to PostgreSQL processes left in the cluster directory`, { pids, clusterDir });
    pids.forEach((pid) => sendSignal(pid, signal));
    await Promise.all(pids.map((pid) => waitUntilGone(pid, signal === 'SIGQUIT' ? IMMEDIATE_SHUTDOWN_MS : KILL_MS)));
  }
  const survivors = await findClusterProcesses(clusterDir);
  if (survivors.length > 0) {
    throw new Error(`PostgreSQL processes ${survivors.join(', ')} in ${clusterDir} survived SIGKILL`);
  }
}

/**
 * Kills an initdb orphaned by a launcher killed during the first start, and
 * the bootstrap backend it ran, so neither keeps writing into `stagingDir`
 * while it is removed and initialised again. Nothing there is worth a
 * graceful shutdown.
 */
export async function killAbandonedInitdb(stagingDir: string, log: LauncherLog): Promise<void> {
  const pids = [...(await findInitdbProcesses(stagingDir)), ...(await findClusterProcesses(stagingDir))];
  if (pids.length === 0) return;
  log.warn('killing an initdb left running by a launcher that died', { pids, stagingDir });
  pids.forEach((pid) => sendSignal(pid, 'SIGKILL'));
  const gone = await Promise.all(pids.map((pid) => waitUntilGone(pid, KILL_MS)));
  if (gone.includes(false)) throw new Error(`initdb processes ${pids.join(', ')} for ${stagingDir} survived SIGKILL`);
}
