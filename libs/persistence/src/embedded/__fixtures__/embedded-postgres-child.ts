/**
 * Owns one embedded PostgreSQL in its own Node process, so tests can kill the
 * owner for real (SIGKILL) and start again from another process.
 *
 * Run from the repository root (for tsconfig.json):
 *   node -r @swc-node/register <this file> '{"dataDir":"...","quiet":false}'
 * Protocol on stdout, one line each:
 *   READY {"url","adminUrl","port","dataDir","ownerPid","startMs"}   once the database accepts connections
 *   STOPPED {"stopMs"}                                      after "stop" on stdin (or stdin closed)
 *   FAILED "<message>"                                      (JSON string) then exit code 1
 * Launcher messages above debug level go to stderr as JSON lines.
 */
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres, type EmbeddedPostgresOptions } from '../embedded-postgres';

type ChildOptions = Pick<EmbeddedPostgresOptions, 'dataDir' | 'port' | 'database'> & {
  /** Pass no log sink at all, to check that the launcher is silent by default. */
  quiet?: boolean;
};

async function main(): Promise<void> {
  const { quiet, ...options } = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
  const began = performance.now();
  const handle = await startEmbeddedPostgres(quiet ? options : { ...options, log: logToStderr });
  const startMs = Math.round(performance.now() - began);
  const { url, adminUrl, port, dataDir } = handle;
  process.stdout.write(`READY ${JSON.stringify({ url, adminUrl, port, dataDir, ownerPid: process.pid, startMs })}\n`);

  // "stop" on stdin, or stdin closing because the test runner went away.
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'stop') break;
  }
  const stopping = performance.now();
  // More than once on purpose, concurrently and after completion: repeats must be harmless.
  await Promise.all([handle.stop(), handle.stop()]);
  await handle.stop();
  process.stdout.write(`STOPPED ${JSON.stringify({ stopMs: Math.round(performance.now() - stopping) })}\n`);
  process.exit(0);
}

function logToStderr(msg: string, fields?: Record<string, unknown>): void {
  if (fields?.['level'] === 'debug') return;
  process.stderr.write(`${JSON.stringify({ msg, ...fields })}\n`);
}

main().catch((error: unknown) => {
  process.stdout.write(`FAILED ${JSON.stringify(error instanceof Error ? error.message : String(error))}\n`);
  process.exit(1);
});
