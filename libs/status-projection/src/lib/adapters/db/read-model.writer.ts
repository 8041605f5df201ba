import type { EntityManager } from 'typeorm';
import { attemptOf, evolveAll, initialView, TransactionEvent, TransactionView, viewOf } from '@waybill/delivery';
import { quoteIdent } from '@waybill/persistence';
import type { AppliedBatch } from '../../application/projection/read-model.port';
import { TRANSACTION_COLUMNS, toRow, TransactionRow } from '../../application/projection/transaction-row';

/** Thrown when another reader created a row this batch meant to create: the batch is retried. */
export class ConcurrentProjectionError extends Error {}

type StateRow = Pick<TransactionRow, 'id' | 'org_id' | 'facts'>;

/** What an update of a row sets: every column but its key and organisation. */
const UPDATED = TRANSACTION_COLUMNS.filter((c) => c !== 'id' && c !== 'org_id')
  .map((c) => `${c} = v.${c}`)
  .join(', ');

/**
 * Applies a batch of transaction events to the read model in `schema`, inside the caller's
 * database transaction, in two statements:
 *
 * 1. stores every event in `transaction_events`; its primary key makes it the dedupe record, so an
 *    event already stored (read twice) is not applied again — in the same transaction as the rows;
 *    the same statement locks the rows of the transactions concerned, in id order, and reads them;
 * 2. after the new events are folded into the rows' facts with the pure `evolve`, writes each row
 *    once (created or updated), the attempts (counting them by organisation, minute and outcome),
 *    and the batch's changes to the counts by organisation and status (in `shard`: the partition
 *    the batch was read from).
 *
 * The fold is order-free, so it does not matter in which order batches of different partitions,
 * or a live reader and a rebuild, apply a transaction's events.
 */
export async function applyTransactionEvents(
  em: EntityManager,
  schema: string,
  incoming: readonly TransactionEvent[],
  shard = 0,
): Promise<AppliedBatch> {
  const s = quoteIdent(schema);
  const unique = firstOfEach(incoming);
  if (unique.length === 0) return { events: [], changes: [] };
  // Inserted in key order, so that two readers of overlapping batches (a rebalance) lock alike.
  const sorted = [...unique].sort((a, b) => compare(a.key, b.key) || compare(a.eventId, b.eventId));
  const ids = [...new Set(sorted.map((e) => e.key))];
  const [read]: { fresh: string[]; rows: StateRow[] }[] = await em.query(
    `WITH stored AS (
       INSERT INTO ${s}.transaction_events (transaction_id, event_id, type, occurred_at, data)
       SELECT * FROM json_to_recordset($1::json) AS e(k text, i uuid, t text, o timestamptz, d jsonb)
       ON CONFLICT DO NOTHING RETURNING event_id::text AS id)
     SELECT (SELECT coalesce(json_agg(id), '[]') FROM stored) AS fresh,
            (SELECT coalesce(json_agg(r), '[]') FROM (
               SELECT id, org_id, facts FROM ${s}.transactions WHERE id = ANY($2) ORDER BY id FOR UPDATE) r) AS rows`,
    // One JSON document, serialised once (an array literal would escape every event's data).
    [JSON.stringify(sorted.map((e) => ({ k: e.key, i: e.eventId, t: e.type, o: e.occurredAt, d: e.data }))), ids],
  );
  const fresh = new Set(read.fresh);
  const events = unique.filter((e) => fresh.has(e.eventId.toLowerCase()));
  if (events.length === 0) return { events: [], changes: [] };

  const before = new Map(read.rows.map((r) => [r.id, viewOf(r.id, r.org_id, r.facts)]));
  // Each transaction's new events folded at once: its view is derived once, not once per event.
  const byTransaction = new Map<string, TransactionEvent[]>();
  for (const e of events) {
    const list = byTransaction.get(e.key);
    if (list) list.push(e);
    else byTransaction.set(e.key, [e]);
  }
  const after = new Map<string, TransactionView>();
  for (const [id, list] of byTransaction) after.set(id, evolveAll(before.get(id) ?? initialView(id, list[0].orgId, list[0].occurredAt), list));
  const created = [...after.values()].filter((v) => !before.has(v.id));
  const updated = [...after.values()].filter((v) => before.has(v.id));
  const attempts = events.flatMap((e) => (e.type === 'delivery.attempted.v1' ? [{ transactionId: e.key, orgId: e.orgId, ...attemptOf(e) }] : []));
  const changes = [...after.values()].map((v) => ({ before: before.get(v.id) ?? null, after: v }));
  // Deltas by organisation and status ("org\tstatus": ids and statuses hold no tab).
  const deltas = new Map<string, number>();
  const bump = (orgId: string, status: string, by: number) => deltas.set(`${orgId}\t${status}`, (deltas.get(`${orgId}\t${status}`) ?? 0) + by);
  for (const { before: b, after: a } of changes) {
    if (b?.status === a.status) continue;
    if (b) bump(b.orgId, b.status, -1);
    bump(a.orgId, a.status, 1);
  }
  const counted = [...deltas].filter(([, n]) => n !== 0).sort(([a], [b]) => compare(a, b)); // one lock order

  const [written]: { created: number }[] = await em.query(
    `WITH created AS (
       INSERT INTO ${s}.transactions SELECT * FROM jsonb_populate_recordset(null::${s}.transactions, $1::jsonb)
       ON CONFLICT (id) DO NOTHING RETURNING 1),
     updated AS (
       UPDATE ${s}.transactions t SET ${UPDATED}
       FROM jsonb_populate_recordset(null::${s}.transactions, $2::jsonb) v WHERE t.id = v.id),
     attempts AS (
       INSERT INTO ${s}.delivery_attempts
         (transaction_id, event_id, delivery_id, attempt, at, status_code, outcome, duration_ms, error, response_excerpt, org_id)
       SELECT * FROM json_to_recordset($3::json)
         AS a(t text, e uuid, d text, n int, at timestamptz, c int, o text, ms int, err text, x text, org text)
       ON CONFLICT DO NOTHING
       RETURNING org_id, at, outcome),
     -- The attempts inserted (not those read before), by organisation, minute and outcome: the dashboard's deliveries per minute.
     delivery_counts AS (
       INSERT INTO ${s}.delivery_counts (org_id, minute, outcome, shard, n)
       SELECT org_id, date_bin('1 minute', at, timestamptz '2000-01-01 00:00:00+00') AS minute, outcome, $4, count(*)
         FROM attempts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
       ON CONFLICT (org_id, minute, outcome, shard) DO UPDATE SET n = ${s}.delivery_counts.n + EXCLUDED.n),
     transaction_counts AS (
       INSERT INTO ${s}.transaction_counts (org_id, status, shard, n)
       SELECT org_id, status, $4, n FROM json_to_recordset($5::json) AS d(org_id text, status text, n bigint)
       ON CONFLICT (org_id, status, shard) DO UPDATE SET n = ${s}.transaction_counts.n + EXCLUDED.n)
     -- Every statement of a WITH runs, read or not.
     SELECT count(*)::int AS created FROM created`,
    [
      JSON.stringify(created.map(toRow)),
      JSON.stringify(updated.map(toRow)),
      JSON.stringify(
        attempts.map((a) => ({
          t: a.transactionId,
          e: a.eventId,
          d: a.deliveryId,
          n: a.attempt,
          at: a.at,
          c: a.statusCode,
          o: a.outcome,
          ms: a.durationMs,
          err: a.error,
          x: a.responseExcerpt,
          org: a.orgId,
        })),
      ),
      shard,
      JSON.stringify(counted.map(([key, n]) => ({ org_id: key.split('\t')[0], status: key.split('\t')[1], n }))),
    ],
  );
  // Another reader created one of these rows since our read (two instances briefly reading one
  // partition): ours would lose its events. Roll back; the retry will update it.
  if (written.created !== created.length) throw new ConcurrentProjectionError(`${created.length - written.created} rows created concurrently`);
  return { events, changes };
}

/** The first copy of each event id, in the order read (a batch may hold one event twice). */
function firstOfEach(events: readonly TransactionEvent[]): TransactionEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    const id = e.eventId.toLowerCase();
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
