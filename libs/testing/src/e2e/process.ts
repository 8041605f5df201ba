import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';

const ROOT = path.resolve(__dirname, '../../../..');

export interface WaybillProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Everything the process wrote, stdout and stderr. */
  output(): string;
  /** Sends `signal` and resolves with the exit code (or the signal's name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited: Promise<number | string>;
}

/**
 * Starts one Waybill app (`apps/<app>/src/main.ts`) as its own Node process, the way `npm start`
 * does, and resolves once `/health/ready` answers 200.
 */
export function startWaybill(app: string, env: Record<string, string>, readyTimeoutMs = 90_000): Promise<WaybillProcess> {
  return startProcess(path.join('apps', app, 'src', 'main.ts'), env, readyTimeoutMs);
}

/** The distributed mode as `npm run start:distributed` starts it: four services and the edge. */
export function startDistributed(env: Record<string, string>, readyTimeoutMs = 120_000): Promise<WaybillProcess> {
  return startProcess(path.join('tools', 'distributed', 'start.ts'), env, readyTimeoutMs);
}

async function startProcess(entry: string, env: Record<string, string>, readyTimeoutMs: number): Promise<WaybillProcess> {
  const app = entry;
  const port = env.PORT;
  if (!port) throw new Error('give the process a PORT');
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, entry)], {
    cwd: ROOT,
    // Jest's NODE_ENV=test would switch kafkajs to its test retry settings: run as a user does.
    env: { ...withoutNodeEnv(process.env), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const baseUrl = `http://127.0.0.1:${port}`;
  const proc: WaybillProcess = {
    child,
    baseUrl,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      throw new Error(`${app} not ready after ${readyTimeoutMs} ms:\n${out}`);
    }
    try {
      const res = await request(`${baseUrl}/health/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return proc;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${app} exited before it was ready (${await exited}):\n${out}`);
}

function withoutNodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_ENV: _ignored, ...rest } = env;
  return rest;
}
