/**
 * Process inspection through Linux `/proc`, used to recognise and stop PostgreSQL
 * processes that belong to one cluster directory. On platforms without `/proc`
 * these helpers report "unknown" rather than guessing, and callers skip the
 * recovery steps that depend on them.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** What `/proc/<pid>` says about one process. */
export interface ProcessInfo {
  pid: number;
  /** Parent pid; 1 (or a subreaper) once the original parent has died. */
  ppid: number;
  /** Single-letter kernel state: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** Command line split into arguments; empty for zombies and kernel threads. */
  argv: string[];
}

const POLL_START_MS = 5;
const POLL_MAX_MS = 100;
const POSTGRES_BINARY = 'postgres';

/** True when this platform exposes `/proc/<pid>/{stat,cmdline,cwd,exe}` as Linux does. */
export function hasProcFs(): boolean {
  return process.platform === 'linux';
}

/** The process, or undefined when no such pid exists (or `/proc` is unavailable). */
export async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const [stat, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    return { pid, ...parseStat(stat), argv: cmdline.split('\0').filter((arg) => arg.length > 0) };
  } catch (error) {
    if (isMissingProcess(error)) return undefined;
    throw error;
  }
}

/** State and parent from `/proc/<pid>/stat`; the command name before them may contain ')' or spaces. */
function parseStat(stat: string): { state: string; ppid: number } {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', ppid: Number(fields[1]) };
}

function isMissingProcess(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH';
}

/** Zombies count as exited: they hold no ports, locks, shared memory or files, only a pid. */
export function hasExited(info: ProcessInfo | undefined): boolean {
  return info === undefined || info.state === 'Z' || info.state === 'X';
}

/** True while `pid` runs and is not a zombie. Falls back to signal 0 where `/proc` is missing. */
export async function isAlive(pid: number): Promise<boolean> {
  if (!hasProcFs()) return signalZeroSucceeds(pid);
  return !hasExited(await readProcess(pid));
}

function signalZeroSucceeds(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/**
 * True when `info` is a postmaster started with `-D <clusterDir>`. Backends rewrite
 * their command line ("postgres: checkpointer"), the postmaster keeps the original,
 * so this matches exactly one process per running cluster. Paths are compared
 * after `path.resolve`; this launcher always passes a realpath.
 */
export function isPostmasterFor(info: ProcessInfo | undefined, clusterDir: string): boolean {
  const args = argumentsOf(info, POSTGRES_BINARY);
  const dataDir = args && dataDirArgument(args);
  return dataDir !== undefined && path.resolve(dataDir) === path.resolve(clusterDir);
}

/** Arguments after the binary when `info` is a live run of the executable named `binary`. */
function argumentsOf(info: ProcessInfo | undefined, binary: string): string[] | undefined {
  if (info === undefined || hasExited(info) || info.argv.length === 0) return undefined;
  const [command = '', ...args] = info.argv;
  return path.basename(command) === binary ? args : undefined;
}

function dataDirArgument(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '-D') return args[i + 1];
    if (arg.startsWith('-D')) return arg.slice(2);
  }
  return undefined;
}

/** Pids of all live postmasters serving `clusterDir`; more than one would mean a broken lock. */
export async function findPostmasters(clusterDir: string): Promise<number[]> {
  return findPids((info) => isPostmasterFor(info, clusterDir));
}

/** Live initdb processes writing `dataDir` (the package passes `--pgdata=<dir>`). */
export async function findInitdbProcesses(dataDir: string): Promise<number[]> {
  const target = path.resolve(dataDir);
  const flag = '--pgdata=';
  return findPids((info) =>
    (argumentsOf(info, 'initdb') ?? []).some(
      (arg) => arg.startsWith(flag) && path.resolve(arg.slice(flag.length)) === target,
    ),
  );
}

async function findPids(matches: (info: ProcessInfo | undefined) => boolean): Promise<number[]> {
  const infos = await Promise.all((await listPids()).map(readProcessQuietly));
  return infos.filter((info): info is ProcessInfo => matches(info)).map((info) => info.pid);
}

/**
 * Live `postgres` processes whose working directory is `clusterDir`. Every process of
 * a cluster (postmaster, backends, bootstrap/single-user mode during initdb) chdirs
 * into its data directory, so this finds backends orphaned by a killed postmaster.
 * Matching the executable as well keeps a user's shell that merely sits in the
 * directory out of it.
 */
export async function findClusterProcesses(clusterDir: string): Promise<number[]> {
  if (!hasProcFs()) return [];
  const matches = await Promise.all((await listPids()).map((pid) => runsPostgresIn(pid, clusterDir)));
  return matches.filter((pid): pid is number => pid !== undefined);
}

async function runsPostgresIn(pid: number, clusterDir: string): Promise<number | undefined> {
  try {
    const [cwd, exe] = await Promise.all([readlink(`/proc/${pid}/cwd`), readlink(`/proc/${pid}/exe`)]);
    if (cwd !== clusterDir || path.basename(exe) !== POSTGRES_BINARY) return undefined;
    return (await isAlive(pid)) ? pid : undefined;
  } catch {
    // Gone meanwhile, a kernel thread, or another user's process we may not inspect.
    return undefined;
  }
}

async function readProcessQuietly(pid: number): Promise<ProcessInfo | undefined> {
  try {
    return await readProcess(pid);
  } catch {
    return undefined;
  }
}

async function listPids(): Promise<number[]> {
  if (!hasProcFs()) return [];
  const entries = await readdir('/proc');
  return entries.filter((name) => /^\d+$/.test(name)).map(Number);
}

/** Sends `signal`, treating "no such process" as success (it is already gone). */
export function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if (errnoCode(error) !== 'ESRCH') throw error;
  }
}

/**
 * Polls until `pid` has exited (zombie or reaped) or `timeoutMs` elapses.
 * @returns true when the process is gone.
 */
export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let pause = POLL_START_MS;
  while (await isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await delay(pause);
    pause = Math.min(pause * 2, POLL_MAX_MS);
  }
  return true;
}

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
