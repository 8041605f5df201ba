import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');

/** How a process that was expected to end, ended. */
export interface ExitedProcess {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  durationMs: number;
}

const running = new Set<ChildProcess>();

/**
 * Starts one Waybill app (`apps/<app>/src/main.ts`) as its own Node process, as `startWaybill` does,
 * but waits for it to EXIT rather than to be ready: for start-up failures. `env` is laid over the
 * test's environment; a key set to `undefined` is removed from it (to test a missing variable).
 * After `timeoutMs` the process is killed and the promise rejects with what it wrote.
 */
export function runWaybillToExit(app: string, env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<ExitedProcess> {
  return runToExit(path.join('apps', app, 'src', 'main.ts'), env, timeoutMs);
}

/** {@link runWaybillToExit} for any entry file of the repository, relative to its root. */
export function runToExit(entry: string, env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<ExitedProcess> {
  const merged: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  // Jest sets NODE_ENV=test, which a user's `npm start` does not have and which changes how
  // libraries behave (kafkajs switches to its test retry timings): leave it out unless asked for.
  delete merged.NODE_ENV;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  const started = Date.now();
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, entry)], {
    cwd: ROOT,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<ExitedProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} still running after ${timeoutMs} ms; killed it.\nstdout (tail):\n${stdout.slice(-4_000)}\nstderr (tail):\n${stderr.slice(-4_000)}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    // 'close', not 'exit': resolves once stdout and stderr have been read to their end.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

/** SIGKILLs every process {@link runToExit} started that has not ended yet: for `afterAll`. */
export async function killUnfinishedRuns(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  running.clear();
}
