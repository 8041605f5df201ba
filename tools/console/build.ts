/**
 * Builds the web console (apps/console) into apps/console/dist unless the build there is of the
 * same sources: the key is a SHA-256 of the console's files and of package-lock.json (the
 * versions it is built with), kept in dist/.build-key. Run by `npm install` (postinstall), so the
 * first `npm start` serves it at once, and before the console's browser tests.
 *
 *   node -r @swc-node/register tools/console/build.ts [--force]
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const APP = path.join(ROOT, 'apps/console');
const DIST = path.join(APP, 'dist');
const KEY_FILE = path.join(DIST, '.build-key');
const INPUTS = ['index.html', 'vite.config.mts', 'tsconfig.json', 'public', 'src'];

function filesBelow(p: string): string[] {
  if (!existsSync(p)) return [];
  if (statSync(p).isFile()) return [p];
  return readdirSync(p)
    .sort()
    .flatMap((name) => filesBelow(path.join(p, name)));
}

/** The build's key: every input file's path and bytes, and the lock file. */
export function buildKey(): string {
  const hash = createHash('sha256');
  for (const file of [...INPUTS.flatMap((i) => filesBelow(path.join(APP, i))).filter((f) => !f.endsWith('.spec.ts')), path.join(ROOT, 'package-lock.json')]) {
    hash.update(path.relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

/** Builds when the sources changed since the last build; answers whether it built. */
export async function ensureConsoleBuilt(force = false, log: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<boolean> {
  if (!existsSync(path.join(APP, 'index.html'))) {
    log('console: no sources (apps/console) here: nothing to build');
    return false;
  }
  const key = buildKey();
  if (!force && existsSync(path.join(DIST, 'index.html')) && existsSync(KEY_FILE) && readFileSync(KEY_FILE, 'utf8').trim() === key) {
    log('console: up to date (apps/console/dist)');
    return false;
  }
  let vite: { build(options: { configFile: string; logLevel: string }): Promise<unknown> };
  try {
    const name = 'vite'; // a dev dependency: looked up at run time (ESM, typed for bundlers)
    vite = await import(name);
  } catch {
    log('console: not built — vite is not installed (install the dev dependencies: npm install)');
    return false;
  }
  const started = Date.now();
  await vite.build({ configFile: path.join(APP, 'vite.config.mts'), logLevel: 'warn' });
  writeFileSync(KEY_FILE, `${key}\n`);
  log(`console: built apps/console/dist in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

if (require.main === module) {
  ensureConsoleBuilt(process.argv.includes('--force')).catch((err: Error) => {
    process.stderr.write(`console: build failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
