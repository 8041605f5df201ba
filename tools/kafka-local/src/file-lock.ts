import { open, readFile, rm, stat } from 'node:fs/promises';
import { delay, isErrnoException } from './fs-util';
import { isProcessAlive } from './processes';

export interface FileLockOptions {
  /** Give up waiting for another holder after this long. */
  timeoutMs: number;
  /** How often to re-check whether the holder released the lock or died. */
  pollMs?: number;
}

async function tryAcquire(lockPath: string): Promise<boolean> {
  try {
    const handle = await open(lockPath, 'wx');
    await handle.writeFile(String(process.pid));
    await handle.close();
    return true;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') return false;
    throw error;
  }
}

async function lockHolder(lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Grace for a lock file that has no pid yet: its owner is between open() and write(). */
const UNWRITTEN_LOCK_GRACE_MS = 10_000;

async function isStale(lockPath: string, holder: number | undefined): Promise<boolean> {
  if (holder !== undefined) return holder !== process.pid && !(await isProcessAlive(holder));
  try {
    return Date.now() - (await stat(lockPath)).mtimeMs > UNWRITTEN_LOCK_GRACE_MS;
  } catch {
    return false; // vanished meanwhile: the next acquire attempt will tell
  }
}

/**
 * Cross-process mutual exclusion via an O_EXCL lock file holding the owner's
 * pid. A lock whose owner died (crash, SIGKILL) is broken rather than waited
 * on. Two waiters breaking the same stale lock could both proceed, so callers
 * must still publish results atomically; the lock only avoids duplicate work.
 */
export async function withFileLock<T>(lockPath: string, options: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 250;
  while (!(await tryAcquire(lockPath))) {
    const holder = await lockHolder(lockPath);
    if (await isStale(lockPath, holder)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${options.timeoutMs} ms waiting for lock ${lockPath} (held by pid ${holder ?? '?'})`);
    }
    await delay(pollMs);
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}
