/**
 * The logins of one embedded cluster, generated per data directory and kept in
 * `<dataDir>/credentials.json` (mode 0600, like the secret key): the superuser,
 * which only the launcher uses (initdb, roles, databases), and the application
 * role that Waybill's services connect as — not a superuser, owner of its
 * database and of the schemas it creates there.
 *
 * A cluster made before this file existed (its superuser `waybill`, password
 * `waybill`, which every local user could use) is recognised by having no
 * credentials file; the launcher then records new credentials with
 * `migration: "pending"` first, migrates the cluster (new passwords, ownership
 * moved to the application role) and clears the flag. A launcher killed in
 * between finds the flag and finishes the job.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from './proc';
import { fsyncDir, isInitialised } from './cluster-location';
import type { LauncherLog } from './launcher-log';

/** File in dataDir holding the cluster's logins. */
export const CREDENTIALS_FILE = 'credentials.json';

/** A PostgreSQL login. */
export interface Login {
  user: string;
  password: string;
}

export interface ClusterCredentials {
  superuser: Login;
  app: Login;
  /** Set while a cluster of the old fixed login is being migrated. */
  migration?: 'pending';
}

/** The superuser of a cluster that was made by this launcher. */
export const SUPERUSER = 'waybill_admin';
/** The role Waybill's services connect as. */
export const APP_ROLE = 'waybill_app';
/** The fixed superuser login of clusters made before per-cluster credentials. */
export const LEGACY_LOGIN: Readonly<Login> = { user: 'waybill', password: 'waybill' };

/** 32 random bytes, URL-safe: nothing to escape in a URL or an SQL literal. */
export function newPassword(): string {
  return randomBytes(32).toString('base64url');
}

/** Credentials for a new cluster. */
export function freshCredentials(): ClusterCredentials {
  return { superuser: { user: SUPERUSER, password: newPassword() }, app: { user: APP_ROLE, password: newPassword() } };
}

/** Credentials for a cluster of the old fixed login, still to be migrated. */
export function legacyCredentials(): ClusterCredentials {
  return {
    superuser: { user: LEGACY_LOGIN.user, password: newPassword() },
    app: { user: APP_ROLE, password: newPassword() },
    migration: 'pending',
  };
}

/**
 * Reads `<dataDir>/credentials.json`, or undefined when it does not exist.
 * @throws when it is malformed, or readable by others than its owner (it must be 0600).
 */
export async function readCredentials(dataDir: string): Promise<ClusterCredentials | undefined> {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); it must be 0600 (chmod 600 ${file})`);
  }
  const parsed: unknown = JSON.parse(text);
  if (!isCredentials(parsed)) throw new Error(`${file} does not hold cluster credentials; restore it or remove the data directory`);
  return parsed;
}

/** Writes the file 0600 through a temporary file and a rename, so a crash never leaves half of it. */
export async function writeCredentials(dataDir: string, credentials: ClusterCredentials): Promise<void> {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flush: true });
  await chmod(temporary, 0o600); // a file left by an earlier crash keeps its mode: make sure
  await rename(temporary, file);
  await fsyncDir(dataDir);
}

function isCredentials(value: unknown): value is ClusterCredentials {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return isLogin(v['superuser']) && isLogin(v['app']) && (v['migration'] === undefined || v['migration'] === 'pending');
}

function isLogin(value: unknown): value is Login {
  if (typeof value !== 'object' || value === null) return false;
  const { user, password } = value as Record<string, unknown>;
  return typeof user === 'string' && /^[a-z_][a-z0-9_]*$/.test(user) && typeof password === 'string' && password.length >= 16;
}

/**
 * The cluster's logins: those recorded in dataDir, else new ones — for a cluster made by the old
 * code (it exists but has no credentials file) marked for migration — written before any use.
 */
export async function settleCredentials(dataDir: string, clusterDir: string, log: LauncherLog): Promise<ClusterCredentials> {
  const recorded = await readCredentials(dataDir);
  if (recorded) return recorded;
  if (await isInitialised(clusterDir)) {
    log.warn('this PostgreSQL cluster has the old fixed superuser login; giving it random logins and a non-superuser application role', {
      clusterDir,
    });
    const credentials = legacyCredentials();
    await writeCredentials(dataDir, credentials);
    return credentials;
  }
  const credentials = freshCredentials();
  await writeCredentials(dataDir, credentials);
  return credentials;
}
