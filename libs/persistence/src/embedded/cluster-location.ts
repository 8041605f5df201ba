/**
 * Where a data directory's PostgreSQL cluster lives.
 *
 * Normally the cluster is `<dataDir>/pgdata`. Running as root, PostgreSQL runs
 * as the `postgres` user, which must be able to search (x) every directory on
 * the way to the cluster. A data directory below a private parent (a 0700
 * `mkdtemp` directory, `/root`) breaks that. We then do NOT loosen the parent's
 * mode: those directories belong to the user, and a chmod would silently
 * expose their other contents. Instead the cluster goes to a directory owned
 * by us, `/var/lib/waybill/pg-<first 16 hex of sha256(realpath(dataDir))>`, and
 * `<dataDir>/cluster-location.json` records it so every later start finds it
 * again, even if permissions change or dataDir is moved. The pointer wins over
 * the usual location whenever it exists.
 *
 * Consequence: a relocated cluster lives outside dataDir. Deleting dataDir
 * drops the pointer and the next start begins with an empty cluster (the old
 * one is moved aside, never reused by accident or deleted); persisting dataDir
 * alone (e.g. as a container volume) does not persist a relocated cluster.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { errnoCode, findPostmasters } from './proc';
import { recoverCluster } from './recovery';
import type { LauncherLog } from './launcher-log';

/** Subdirectory of dataDir holding the cluster when it is not relocated. */
export const CLUSTER_SUBDIR = 'pgdata';
/** File in dataDir naming a relocated cluster. */
export const POINTER_FILE = 'cluster-location.json';
/** Parent of relocated clusters; created by the launcher with mode 0755. */
export const RELOCATION_ROOT = '/var/lib/waybill';

/** Numeric identity PostgreSQL runs under when the launcher runs as root. */
export interface UnixIdentity {
  uid: number;
  gid: number;
}

/** Who will run PostgreSQL. */
export interface RunAs {
  root: boolean;
  /** The `postgres` user when running as root; undefined if it does not exist yet (the package creates it). */
  postgresUser?: UnixIdentity;
}

export interface ClusterLocation {
  /** Absolute, symlink-free path of the PGDATA directory. */
  clusterDir: string;
  /** True when the cluster lives outside dataDir (see file comment). */
  relocated: boolean;
  /** Why it was relocated, as recorded when the pointer was written. */
  reason?: string;
}

interface PointerFile {
  clusterDir: string;
  reason: string;
  /** ISO-8601 time the pointer was written. */
  recordedAt: string;
}

const execFileAsync = promisify(execFile);

/** The identity PostgreSQL will run under. */
export async function resolveRunAs(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return { root: false };
  return { root: true, postgresUser: await lookupUser('postgres') };
}

async function lookupUser(name: string): Promise<UnixIdentity | undefined> {
  try {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => Number(stdout.trim())),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => Number(stdout.trim())),
    ]);
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * Creates dataDir if needed and decides where its cluster lives (see file comment).
 * @throws when an existing cluster cannot be used by the identity in `runAs`.
 */
export async function resolveClusterLocation(
  dataDir: string,
  runAs: RunAs,
  log: LauncherLog,
): Promise<ClusterLocation> {
  await mkdir(dataDir, { recursive: true });
  const realDataDir = await realpath(dataDir);
  const pointer = await readPointer(realDataDir);
  if (pointer) return useRecordedLocation(realDataDir, pointer, runAs);

  const local = path.join(realDataDir, CLUSTER_SUBDIR);
  if (!runAs.root) return { clusterDir: local, relocated: false };
  const blocker = await firstUnsearchable(realDataDir, runAs.postgresUser);
  if (blocker === undefined) return { clusterDir: local, relocated: false };
  if (await isInitialised(local)) {
    throw new Error(
      `the cluster in ${local} is unreachable for the postgres user because ${blocker} is not searchable by it; ` +
        'give that user search (x) permission on it or move the data directory',
    );
  }
  return relocate(realDataDir, blocker, runAs.postgresUser, log);
}

/**
 * Deletes a data directory and, when its cluster was relocated, that cluster
 * too, so tests that throw away a temporary dataDir leave nothing behind in
 * {@link RELOCATION_ROOT}. The server must be stopped first.
 * @throws when a postmaster still serves the cluster.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  if (!(await exists(dataDir))) return;
  const realDataDir = await realpath(dataDir);
  const pointer = await readPointer(realDataDir);
  const clusterDir = pointer?.clusterDir ?? path.join(realDataDir, CLUSTER_SUBDIR);
  const running = await findPostmasters(clusterDir);
  if (running.length > 0) throw new Error(`PostgreSQL (pid ${running.join(', ')}) still serves ${clusterDir}`);
  if (pointer) await rm(pointer.clusterDir, { recursive: true, force: true });
  await rm(realDataDir, { recursive: true, force: true });
}

function useRecordedLocation(realDataDir: string, pointer: PointerFile, runAs: RunAs): ClusterLocation {
  if (!runAs.root) {
    throw new Error(
      `${path.join(realDataDir, POINTER_FILE)} points to ${pointer.clusterDir}, a cluster owned by the postgres ` +
        'user that only a root launcher can run',
    );
  }
  return { clusterDir: pointer.clusterDir, relocated: true, reason: pointer.reason };
}

async function relocate(
  realDataDir: string,
  blocker: string,
  postgresUser: UnixIdentity | undefined,
  log: LauncherLog,
): Promise<ClusterLocation> {
  await ensureRelocationRoot(postgresUser);
  const clusterDir = path.join(RELOCATION_ROOT, `pg-${sha256Hex(realDataDir).slice(0, 16)}`);
  // No pointer yet but the directory exists: an earlier dataDir at this path was deleted.
  // Starting fresh is what deleting it asked for; moving aside keeps the data recoverable.
  if (await exists(clusterDir)) await retire(clusterDir, log);
  const reason = `${blocker} is not searchable by the postgres user`;
  await writePointer(realDataDir, { clusterDir, reason, recordedAt: new Date().toISOString() });
  return { clusterDir, relocated: true, reason };
}

async function ensureRelocationRoot(postgresUser: UnixIdentity | undefined): Promise<void> {
  try {
    await mkdir(RELOCATION_ROOT, { mode: 0o755 });
    // Our own directory, just made: undo a restrictive umask (0755 is what mkdir was asked for).
    await chmod(RELOCATION_ROOT, 0o755);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
  const blocker = await firstUnsearchable(RELOCATION_ROOT, postgresUser);
  if (blocker !== undefined) {
    throw new Error(`cannot relocate the cluster: ${blocker} is not searchable by the postgres user`);
  }
}

async function retire(clusterDir: string, log: LauncherLog): Promise<void> {
  await recoverCluster(clusterDir, log);
  const retiredDir = `${clusterDir}.retired-${Date.now()}`;
  await rename(clusterDir, retiredDir);
  log.warn('found a relocated cluster without a pointer to it; moved it aside (delete it if unneeded)', {
    retiredDir,
  });
}

/**
 * The first directory from `/` down to `dir` (inclusive) that `who` may not
 * search, or undefined when all are searchable. Mirrors the kernel's mode-bit
 * check for a process Node spawns with uid/gid set: libuv drops supplementary
 * groups, so only the primary group counts. POSIX ACLs are not evaluated.
 * An unknown user (not created yet) matches neither owner nor group.
 */
export async function firstUnsearchable(dir: string, who: UnixIdentity | undefined): Promise<string | undefined> {
  for (const candidate of selfAndAncestors(dir)) {
    if (!canSearch(await stat(candidate), who)) return candidate;
  }
  return undefined;
}

function canSearch(info: { uid: number; gid: number; mode: number }, who: UnixIdentity | undefined): boolean {
  if (who !== undefined && info.uid === who.uid) return (info.mode & 0o100) !== 0;
  if (who !== undefined && info.gid === who.gid) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

/** `/`, `/a`, `/a/b` for `/a/b`: the order the kernel walks them. */
function selfAndAncestors(dir: string): string[] {
  const chain: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    chain.unshift(current);
    if (path.dirname(current) === current) return chain;
  }
}

/** True when `clusterDir` holds a finished initdb. */
export async function isInitialised(clusterDir: string): Promise<boolean> {
  return exists(path.join(clusterDir, 'PG_VERSION'));
}

/** True when `dir` exists and has no entries. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}

async function readPointer(realDataDir: string): Promise<PointerFile | undefined> {
  const file = path.join(realDataDir, POINTER_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isPointerFile(parsed)) throw new Error(`${file} is not a cluster pointer; remove it or fix it`);
  return parsed;
}

function isPointerFile(value: unknown): value is PointerFile {
  if (typeof value !== 'object' || value === null) return false;
  const { clusterDir, reason } = value as Partial<Record<keyof PointerFile, unknown>>;
  return typeof clusterDir === 'string' && path.isAbsolute(clusterDir) && typeof reason === 'string';
}

/** Written via a temporary file, rename and directory fsync so a crash never leaves half a pointer. */
async function writePointer(realDataDir: string, pointer: PointerFile): Promise<void> {
  const file = path.join(realDataDir, POINTER_FILE);
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(pointer, null, 2)}\n`, { flush: true });
  await rename(temporary, file);
  await fsyncDir(realDataDir);
}

/** Makes a rename or new entry in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
