/**
 * `npm test`: lint (module boundaries included) and type check, then the test tiers — unit in
 * parallel, then integration and end-to-end (real PostgreSQL and Kafka, started once) one file at
 * a time, then the web console in Debian's Chromium (installed here when missing) — and a closing
 * line `N passed, N failed` for the whole run. `npm test -- console` (or any tier names) runs those alone.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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

/** Where the console's browser tests find Chromium (Debian's package; Playwright's own download cannot work here). */
const CHROMIUM = process.env.WAYBILL_CHROMIUM ?? '/usr/bin/chromium';

/** Installs Debian's chromium when it is missing (as root, as on the machines and CI here). */
function ensureChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.getuid?.() !== 0) {
    process.stdout.write(`\n${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) or set WAYBILL_CHROMIUM\n`);
    return false;
  }
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => spawnSync('apt-get', args, { cwd: ROOT, env: aptEnv, stdio: 'inherit' }).status === 0;
  process.stdout.write('\n=== chromium: apt-get install chromium\n');
  return apt(['update', '-qq']) && apt(['install', '-y', '-qq', 'chromium']) && existsSync(CHROMIUM);
}

/**
 * The console tier: the typed client's schema in step with the OpenAPI snapshot, then the
 * Playwright flows (which build the console if its sources changed and start the standalone app).
 */
function consoleTier(): { ok: boolean; summary: JestSummary | null } {
  const generated = path.join(OUT, 'console-schema.d.ts');
  const typesOk = run('console types', process.execPath, [
    path.join(ROOT, 'node_modules/openapi-typescript/bin/cli.js'),
    'apps/console/src/api/openapi.json',
    '-o',
    generated,
  ]);
  const inStep = typesOk && readFileSync(generated, 'utf8') === readFileSync(path.join(ROOT, 'apps/console/src/api/schema.d.ts'), 'utf8');
  if (!inStep) process.stdout.write('\napps/console/src/api/schema.d.ts is not generated from openapi.json: run `npm run console:openapi`\n');
  if (!ensureChromium()) return { ok: false, summary: null };
  const file = path.join(OUT, 'console.json');
  const ok = spawnRun('console', process.execPath, [path.join(ROOT, 'node_modules/@playwright/test/cli.js'), 'test', '-c', 'apps/console/e2e/playwright.config.ts', '--reporter=list,json'], {
    PLAYWRIGHT_JSON_OUTPUT_NAME: file,
    WAYBILL_CHROMIUM: CHROMIUM,
  });
  try {
    const report = JSON.parse(readFileSync(file, 'utf8')) as { stats: { expected: number; unexpected: number; flaky: number }; errors?: unknown[] };
    return {
      ok: ok && inStep,
      summary: {
        numPassedTests: report.stats.expected,
        numFailedTests: report.stats.unexpected + report.stats.flaky + (inStep ? 0 : 1),
        numPendingTests: 0,
        numRuntimeErrorTestSuites: report.errors?.length ?? 0,
        numFailedTestSuites: report.stats.unexpected + report.stats.flaky + (report.errors?.length ?? 0) + (inStep ? 0 : 1),
      },
    };
  } catch {
    return { ok: false, summary: null };
  }
}

function spawnRun(label: string, cmd: string, args: string[], extraEnv: Record<string, string>): boolean {
  process.stdout.write(`\n=== ${label}: ${cmd} ${args.join(' ')}\n`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: 'inherit' });
  process.stdout.write(`=== ${label}: ${r.status === 0 ? 'ok' : `failed (${r.status ?? r.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return r.status === 0;
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
  if (want('console')) results.push(consoleTier());

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
