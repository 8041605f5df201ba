/**
 * `npm run projection:measure [-- --rows=1000000]`: the status read model at scale, measured.
 *
 * On a fresh PostgreSQL (DATABASE_URL, or an embedded one in a temporary directory) it
 *  1. folds transaction histories (received, routed, an attempt, accepted) into the read model with
 *     the projection's own writer, in batches of 500 as a consumer reads them, with one reader and
 *     with four at once, and reports events and transactions per second;
 *  2. fills `status.transactions` up to `--rows` rows (one organisation holding 90% of them,
 *     100 channels, 1,000 relationships, 30 days, mostly ACCEPTED, FAILED rare) and ANALYZEs it;
 *  3. prints `EXPLAIN (ANALYZE, BUFFERS)` of the list query for each filter of the API, and the
 *     median time of 50 runs of each, first page and a page deep in the walk;
 *  4. times the sweep's snapshot of every FAILED (and REJECTED) transaction of the big organisation;
 *  5. times counting the rows by status against reading the counts the writer keeps.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { openServiceDataSource, startEmbeddedPostgres } from '@waybill/persistence';
import { encodeCursor, Keyset } from '@waybill/platform';
import { v7 as uuidv7 } from 'uuid';
import { EventData, EventType, makeEvent } from '@waybill/contracts';
import type { TransactionEvent } from '@waybill/delivery';
import { applyTransactionEvents, listQuery, STATUS_MIGRATIONS, sweepSnapshotQuery } from '@waybill/status-projection';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROWS = arg('rows', 1_000_000);
const FOLD_TRANSACTIONS = arg('fold', 20_000);
const BIG = 'org_big';

async function main(): Promise<void> {
  let stopPostgres: (() => Promise<void>) | null = null;
  let dir: string | null = null;
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = await mkdtemp(path.join(os.tmpdir(), 'waybill-measure-'));
    const pg = await startEmbeddedPostgres({ dataDir: dir });
    url = pg.url;
    stopPostgres = () => pg.stop();
  }
  const db = await openServiceDataSource({ url, schema: 'status', migrations: STATUS_MIGRATIONS, poolSize: 6 });
  try {
    await db.query('TRUNCATE status.transactions, status.delivery_attempts, status.transaction_events');
    const sampleFacts = await fold(db);
    await fill(db, sampleFacts);
    await explainLists(db);
    await sweepSnapshot(db);
    await metricsAggregate(db);
  } finally {
    await db.destroy();
    await stopPostgres?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** 1: the writer's throughput, single reader, batches of 500 events. */
async function fold(db: DataSource): Promise<unknown> {
  // The common life, as a consumer reads a partition: received and routed (routing), then an
  // attempt and its outcome (the dispatcher) a moment later, other transactions in between.
  const events: TransactionEvent[] = [];
  for (let i = 0; i < FOLD_TRANSACTIONS; i += 100) {
    const ids = Array.from({ length: 100 }, (_, k) => `tx_fold_${i + k}`);
    for (const tx of ids) events.push(...submitted(tx));
    for (const tx of ids) events.push(...delivered(tx));
  }
  const started = performance.now();
  for (let i = 0; i < events.length; i += 500) {
    const batch = events.slice(i, i + 500);
    await db.transaction((em) => applyTransactionEvents(em, 'status', batch));
  }
  const s = (performance.now() - started) / 1000;
  out(`\n## fold: ${events.length} events of ${FOLD_TRANSACTIONS} transactions in ${s.toFixed(1)} s`);
  out(`   ${Math.round(events.length / s)} events/s, ${Math.round(FOLD_TRANSACTIONS / s)} transactions/s (one reader, batches of 500)`);
  // As the projection runs: one reader a partition, several partitions at once.
  const readers = 4;
  const more: TransactionEvent[][] = Array.from({ length: readers }, () => []);
  for (let i = 0; i < FOLD_TRANSACTIONS; i += 100) {
    const ids = Array.from({ length: 100 }, (_, k) => `tx_fold4_${i + k}`);
    const lane = more[(i / 100) % readers];
    for (const tx of ids) lane.push(...submitted(tx));
    for (const tx of ids) lane.push(...delivered(tx));
  }
  const started4 = performance.now();
  await Promise.all(
    more.map(async (lane, partition) => {
      for (let i = 0; i < lane.length; i += 500) await db.transaction((em) => applyTransactionEvents(em, 'status', lane.slice(i, i + 500), partition));
    }),
  );
  const s4 = (performance.now() - started4) / 1000;
  out(`   ${Math.round(events.length / s4)} events/s, ${Math.round(FOLD_TRANSACTIONS / s4)} transactions/s (${readers} readers at once, as ${readers} partitions)`);
  const [{ facts }] = await db.query(`SELECT facts FROM status.transactions WHERE org_id = 'org_fold' LIMIT 1`);
  await db.query(`TRUNCATE status.delivery_attempts, status.transaction_events`);
  await db.query(`DELETE FROM status.transactions WHERE org_id = 'org_fold'`);
  return facts;
}

/** 2: a million rows, as a busy deployment's read model holds them. */
async function fill(db: DataSource, facts: unknown): Promise<void> {
  const started = performance.now();
  await db.query('DROP INDEX status.transactions_by_status, status.transactions_by_channel, status.transactions_by_relationship');
  await db.query(
    `INSERT INTO status.transactions
       (id, org_id, relationship_id, channel_id, sender_id, receiver_id, transaction_type, business_number, stream, created_at,
        status, delivery_id, generation, next_attempt_at, accepted_by, updated_at, facts)
     SELECT 'tx_' || lpad(to_hex(g), 12, '0'),
            CASE WHEN g % 10 = 0 THEN 'org_' || (g % 7) ELSE '${BIG}' END,
            'rel_' || (g % 1000), 'ch_' || (g % 100), 'ACME', 'GLOBEX', '850', 'PO-' || g, 'LIVE',
            timestamptz '2031-01-01' + (g * interval '2592 milliseconds'),
            CASE WHEN g % 1000 = 7 THEN 'FAILED' WHEN g % 1000 = 8 THEN 'PENDING' WHEN g % 100 = 9 THEN 'SENDING'
                 WHEN g % 50 = 1 THEN 'REJECTED' WHEN g % 20 = 2 THEN 'DISPATCHED' ELSE 'ACCEPTED' END,
            'dl_' || g, 1, NULL, NULL, timestamptz '2031-01-01' + (g * interval '2592 milliseconds'), $1::jsonb
       FROM generate_series(1, $2) g`,
    [JSON.stringify(facts), ROWS],
  );
  await db.query(`CREATE INDEX transactions_by_status ON status.transactions (org_id, status, created_at DESC, id DESC) WHERE created_at IS NOT NULL`);
  await db.query(`CREATE INDEX transactions_by_channel ON status.transactions (org_id, channel_id, status, created_at DESC, id DESC) WHERE created_at IS NOT NULL`);
  await db.query(`CREATE INDEX transactions_by_relationship ON status.transactions (org_id, relationship_id, status, created_at DESC, id DESC) WHERE created_at IS NOT NULL`);
  await db.query('VACUUM ANALYZE status.transactions');
  const [{ n, size }] = await db.query(`SELECT count(*)::int AS n, pg_size_pretty(pg_total_relation_size('status.transactions')) AS size FROM status.transactions`);
  const byStatus = await db.query(`SELECT status, count(*)::int AS n FROM status.transactions WHERE org_id = '${BIG}' GROUP BY 1 ORDER BY 2 DESC`);
  out(`\n## read model: ${n} transactions (${size} with indexes) filled in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  out(`   ${BIG}: ${byStatus.map((r: { status: string; n: number }) => `${r.status} ${r.n}`).join(', ')}`);
}

/** 3: every filter of GET /v1/transactions, first page and deep. */
async function explainLists(db: DataSource): Promise<void> {
  const cases: Array<[string, Parameters<typeof listQuery>[0]]> = [
    ['no filter', { orgId: BIG }],
    ['status=FAILED (rare)', { orgId: BIG, statuses: ['FAILED'] }],
    ['status=ACCEPTED (common)', { orgId: BIG, statuses: ['ACCEPTED'] }],
    ['status=REJECTED&status=FAILED', { orgId: BIG, statuses: ['REJECTED', 'FAILED'] }],
    ['channelId', { orgId: BIG, channelId: 'ch_42' }],
    ['channelId&status=FAILED', { orgId: BIG, channelId: 'ch_7', statuses: ['FAILED'] }],
    ['relationshipId', { orgId: BIG, relationshipId: 'rel_42' }],
    ['createdAfter&createdBefore (one day)', { orgId: BIG, createdAfter: '2031-01-10T00:00:00.000Z', createdBefore: '2031-01-11T00:00:00.000Z' }],
    ['status=FAILED&createdAfter (one week)', { orgId: BIG, statuses: ['FAILED'], createdAfter: '2031-01-20T00:00:00.000Z', createdBefore: '2031-01-27T00:00:00.000Z' }],
  ];
  out('\n## GET /v1/transactions: median of 50 runs, limit 50 (first page, and a page 20,000 rows deep)');
  for (const [name, filter] of cases) {
    const first = listQuery(filter, null, 51);
    const deepAt: Keyset = await deepPosition(db, filter);
    const deep = listQuery(filter, deepAt, 51);
    out(`   ${name.padEnd(40)} first ${(await median(db, first)).toFixed(2)} ms, deep ${(await median(db, deep)).toFixed(2)} ms`);
  }
  for (const [[name, filter], deep] of [[cases[0], true], [cases[3], true], [cases[5], false], [cases[7], false]] as const) {
    const at = deep ? await deepPosition(db, filter) : null;
    const q = listQuery(filter, at, 51);
    const plan: { 'QUERY PLAN': string }[] = await db.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${q.text}`, q.values);
    out(`\n### EXPLAIN (ANALYZE, BUFFERS) — ${name}, ${at ? `a page 20,000 rows deep (cursor ${encodeCursor(at).slice(0, 16)}…)` : 'first page'}\n`);
    out(`\`\`\`\n${q.text.replace(/\s+/g, ' ').slice(0, 400)}…\n\n${plan.map((r) => r['QUERY PLAN']).join('\n')}\n\`\`\``);
  }
}

async function deepPosition(db: DataSource, filter: Parameters<typeof listQuery>[0]): Promise<Keyset> {
  // Where a walk through this list is after 20,000 rows (or its last row, if it has fewer).
  const q = listQuery(filter, null, 20_000);
  const rows: { created_at: Date; id: string }[] = await db.query(q.text, q.values);
  const last = rows[rows.length - 1];
  return { at: last.created_at.toISOString(), id: last.id };
}

async function median(db: DataSource, q: { text: string; values: unknown[] }): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await db.query(q.text, q.values);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[25];
}

/** 4: the sweep's snapshot (INSERT … SELECT of every match). */
async function sweepSnapshot(db: DataSource): Promise<void> {
  for (const status of ['FAILED', 'REJECTED'] as const) {
    const q = sweepSnapshotQuery(`sweep_measure_${status}`, { orgId: BIG, statuses: [status] });
    const t = performance.now();
    const [{ n }] = await db.query(`WITH m AS (${q.text} RETURNING 1) SELECT count(*)::int AS n FROM m`, q.values);
    out(`\n## sweep snapshot: ${n} ${status} transactions copied in ${(performance.now() - t).toFixed(0)} ms`);
    await db.query(`DELETE FROM status.redelivery_sweep_items`);
  }
}

/** 5: what a scrape of `waybill_transactions` costs (it is cached for 10 s between scrapes). */
async function metricsAggregate(db: DataSource): Promise<void> {
  let t = performance.now();
  await db.query('SELECT status, count(*)::int AS n FROM status.transactions GROUP BY status');
  const counting = performance.now() - t;
  t = performance.now();
  await db.query('SELECT status, sum(n)::float8 AS n FROM status.transaction_counts GROUP BY status');
  out(`\n## waybill_transactions: counting ${ROWS} rows would take ${counting.toFixed(0)} ms; the kept counts take ${(performance.now() - t).toFixed(1)} ms`);
}

function event<T extends EventType>(type: T, data: EventData<T> & ({ id: string } | { transactionId: string })): TransactionEvent {
  const key = 'transactionId' in data ? data.transactionId : data.id;
  return makeEvent(type, { eventId: uuidv7(), occurredAt: new Date().toISOString(), orgId: 'org_fold', key, data }) as unknown as TransactionEvent;
}

function submitted(tx: string): TransactionEvent[] {
  const now = new Date().toISOString();
  return [
    event('transaction.received.v1', {
      id: tx, relationshipId: 'rel_1', senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', businessNumber: null,
      stream: 'LIVE', createdAt: now, channelId: 'ch_1', format: 'JSON', payloadBytes: 900,
    }),
    event('transaction.routed.v1', { transactionId: tx, channelId: 'ch_1', deliveryId: `dl_${tx}`, generation: 1 }),
  ];
}

function delivered(tx: string): TransactionEvent[] {
  return [
    event('delivery.attempted.v1', {
      transactionId: tx, deliveryId: `dl_${tx}`, channelId: 'ch_1', attempt: 1, at: new Date().toISOString(), statusCode: 200,
      outcome: 'ACCEPTED', durationMs: 3, error: null, responseExcerpt: 'ok',
    }),
    event('transaction.accepted.v1', { transactionId: tx, deliveryId: `dl_${tx}`, by: 'PARTNER' }),
  ];
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

main().catch((err) => {
  process.stderr.write(`projection:measure: ${(err as Error).stack}\n`);
  process.exit(1);
});
