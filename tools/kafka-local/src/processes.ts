import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { delay, isErrnoException } from './fs-util';

const EXIT_POLL_MS = 100;
/** After SIGKILL the kernel needs a moment; longer means something is badly wrong. */
const AFTER_KILL_WAIT_MS = 5_000;

/**
 * True when `pid` is a running process. Zombies count as gone: their parent
 * has not reaped them yet, but they hold no ports, locks or memory.
 */
export async function isProcessAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The state field follows the parenthesised command name, which may itself contain ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return false;
    // Without /proc (not Linux) fall back to signal 0, which cannot see zombies.
    return signalZeroSucceeds(pid);
  }
}

function signalZeroSucceeds(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrnoException(error) && error.code === 'EPERM';
  }
}

/** Command line of a live process split into arguments, or undefined when it is gone. */
export async function readCommandLine(pid: number): Promise<string[] | undefined> {
  if (!(await isProcessAlive(pid))) return undefined;
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((arg) => arg.length > 0);
  } catch {
    return undefined;
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if (!(isErrnoException(error) && error.code === 'ESRCH')) throw error;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await delay(EXIT_POLL_MS);
  }
  return true;
}

/**
 * Stops a process we did not spawn (so no exit event is available): SIGTERM
 * for Kafka's clean shutdown, SIGKILL once `graceMs` has passed.
 */
export async function terminatePid(pid: number, graceMs: number): Promise<void> {
  sendSignal(pid, 'SIGTERM');
  if (await waitUntilGone(pid, graceMs)) return;
  sendSignal(pid, 'SIGKILL');
  if (!(await waitUntilGone(pid, AFTER_KILL_WAIT_MS))) {
    throw new Error(`Process ${pid} survived SIGKILL for ${AFTER_KILL_WAIT_MS} ms`);
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exitOf(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Like {@link terminatePid} for our own child, whose exit event also reaps it. */
export async function terminateChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return;
  child.kill('SIGTERM');
  if (await exitOf(child, graceMs)) return;
  child.kill('SIGKILL');
  if (!(await exitOf(child, AFTER_KILL_WAIT_MS))) {
    throw new Error(`Process ${child.pid} survived SIGKILL for ${AFTER_KILL_WAIT_MS} ms`);
  }
}
