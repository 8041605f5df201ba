/**
 * Preloaded into the Waybill processes when the bench runs with BENCH_QUERY_COUNT_DIR: counts the
 * statements each process sends to PostgreSQL (every `pg` client query is one round trip), by
 * statement, between two SIGUSR2 (the bench sends them around BENCH_PHASE, default `single`), and
 * writes `<dir>/<app>-<pid>.queries.json` at the second.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_QUERY_COUNT_DIR;
if (dir) {
  const pg = require('pg') as typeof import('pg');
  const app = /apps\/([^/]+)\/src\/main\.ts$/.exec(process.argv[1] ?? '')?.[1] ?? path.basename(process.argv[1] ?? 'node', '.ts');
  const counts = new Map<string, number>();
  let state: 'idle' | 'counting' | 'written' = 'idle';
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    if (state === 'counting') {
      const first = args[0] as string | { text?: string } | undefined;
      const text = (typeof first === 'string' ? first : (first?.text ?? '?')).replace(/\s+/g, ' ').trim().slice(0, 100);
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  process.on('SIGUSR2', () => {
    if (state === 'idle') {
      state = 'counting';
      return;
    }
    if (state !== 'counting') return;
    state = 'written';
    const byStatement = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    writeFileSync(path.join(dir, `${app}-${process.pid}.queries.json`), JSON.stringify({ app, total, byStatement }, null, 1));
  });
}
