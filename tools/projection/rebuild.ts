/**
 * `npm run projection:rebuild`: rebuilds the status read model from the whole event log and
 * switches the running service to it, printing progress until it is done.
 *
 * It drives the status service's admin endpoint, so it works alike in both modes:
 *
 *   WAYBILL_ADMIN_KEY=… npm run projection:rebuild       # npm start (port 3000, or PORT)
 *   npm run projection:rebuild                           # npm run start:distributed: its admin key
 *                                                        # file, the status service on port 3004
 *   WAYBILL_URL=http://status:3004 WAYBILL_ADMIN_KEY=… npm run projection:rebuild   # elsewhere
 *
 * `--keep-previous` keeps the replaced read model in the `status_retired` schema. Exits 0 once the
 * new model is switched in, 1 when the rebuild failed (the live model is then unchanged).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';

interface RebuildState {
  phase: 'IDLE' | 'REPLAYING' | 'SWITCHING' | 'DONE' | 'FAILED';
  startedAt: string | null;
  finishedAt: string | null;
  eventsApplied: number;
  transactions: number | null;
  error: string | null;
}

const POLL_MS = 500;

/**
 * The admin key, and where the status service listens: from the environment, or else from what
 * `npm run start:distributed` keeps (its admin key file; the status service on the edge's port + 4).
 */
function target(): { key: string; base: string } {
  const fromEnv = process.env.WAYBILL_URL?.replace(/\/+$/, '');
  const key = process.env.WAYBILL_ADMIN_KEY;
  if (key) return { key, base: fromEnv ?? `http://127.0.0.1:${process.env.PORT ?? 3000}` };
  const file = path.join(process.env.WAYBILL_DATA_DIR ?? path.join('.waybill', 'distributed'), 'admin.key');
  try {
    const distributedKey = readFileSync(file, 'utf8').trim();
    return { key: distributedKey, base: fromEnv ?? `http://127.0.0.1:${Number(process.env.PORT ?? 3000) + 4}` };
  } catch {
    throw new Error("set WAYBILL_ADMIN_KEY to the deployment's admin key (the service must have it too)");
  }
}

async function call(method: 'GET' | 'POST', url: string, key: string): Promise<RebuildState> {
  const res = await request(url, { method, headers: { authorization: `Bearer ${key}` } });
  const text = await res.body.text();
  if (res.statusCode >= 300) {
    const hint = res.statusCode === 404 ? ' (is WAYBILL_ADMIN_KEY set for the service, and WAYBILL_URL its port?)' : '';
    throw new Error(`${method} ${url} answered ${res.statusCode}${hint}: ${text}`);
  }
  return JSON.parse(text) as RebuildState;
}

async function main(): Promise<void> {
  const { key, base } = target();
  const keepPrevious = process.argv.includes('--keep-previous');
  const url = `${base}/admin/projection/rebuild`;
  let state = await call('POST', `${url}${keepPrevious ? '?keepPrevious=true' : ''}`, key);
  process.stdout.write(`rebuilding the status read model from the event log (${base})\n`);
  let shown = '';
  while (state.phase === 'REPLAYING' || state.phase === 'SWITCHING') {
    const line = `${state.phase.toLowerCase()}: ${state.eventsApplied} events applied`;
    if (line !== shown) process.stdout.write(`  ${(shown = line)}\n`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    state = await call('GET', url, key);
  }
  if (state.phase !== 'DONE') throw new Error(`the rebuild ${state.phase.toLowerCase()}: ${state.error ?? 'no reason given'}; the live read model is unchanged`);
  const seconds = (Date.parse(state.finishedAt as string) - Date.parse(state.startedAt as string)) / 1000;
  process.stdout.write(`done in ${seconds.toFixed(1)} s: ${state.eventsApplied} events, ${state.transactions} transactions; the service now reads the new model\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`projection:rebuild: ${err.message}\n`);
  process.exit(1);
});
