/**
 * `npm test`: lint (module boundaries included) and type check, then the three test tiers —
 * unit in parallel, then integration and end-to-end (real PostgreSQL and Kafka, started once)
 * one file at a time — and a closing line `N passed, N failed` for the whole run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const OUT = path.join(ROOT, 'tmp', 'test-results');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', KAFKAJS_NO_PARTITIONER_WARNING: '1' };

interface JestSummary {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numRuntimeErrorTestSuites: number;
  numFailedTestSuites: number;
}

function run(label: string, cmd: string, args: string[]): boolean {
  process.stdout.write(`\n=== ${label}: ${cmd} ${args.join(' ')}\n`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, stdio: 'inherit' });
  process.stdout.write(`=== ${label}: ${r.status === 0 ? 'ok' : `failed (${r.status ?? r.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return r.status === 0;
}

function jest(label: string, args: string[]): { ok: boolean; summary: JestSummary | null } {
  const file = path.join(OUT, `${label}.json`);
  const ok = run(label, process.execPath, [path.join(ROOT, 'node_modules/jest/bin/jest.js'), ...args, '--json', `--outputFile=${file}`]);
  try {
    return { ok, summary: JSON.parse(readFileSync(file, 'utf8')) as JestSummary };
  } catch {
    return { ok, summary: null };
  }
}

function main(): void {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const only = process.argv.slice(2);
  const want = (tier: string) => only.length === 0 || only.includes(tier);

  const results: Array<{ ok: boolean; summary: JestSummary | null }> = [];
  let lintOk = true;
  if (want('lint')) {
    lintOk = run('lint', 'npm', ['run', '--silent', 'lint']);
  }
  if (want('unit')) results.push(jest('unit', ['--selectProjects', 'unit']));
  const servers = ['int', 'e2e'].filter(want);
  if (servers.length > 0) results.push(jest(servers.join('+'), ['--selectProjects', ...servers, '--runInBand']));

  let passed = 0;
  let failed = lintOk ? 0 : 1;
  let broken = !lintOk;
  for (const { ok, summary } of results) {
    if (!summary) {
      failed += 1;
      broken = true;
      continue;
    }
    passed += summary.numPassedTests;
    failed += summary.numFailedTests + summary.numRuntimeErrorTestSuites;
    if (!ok || summary.numFailedTestSuites > 0) broken = true;
  }
  if (!lintOk) process.stdout.write('\nlint failed (counted as one failure)\n');
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(broken || failed > 0 ? 1 : 0);
}

main();
