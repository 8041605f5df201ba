import type { DataSource, EntityManager } from 'typeorm';
import type { TransactionEvent } from '@waybill/delivery';
import { openServiceDataSource, quoteIdent } from '@waybill/persistence';
import { createTestDatabase, seededRandom } from '@waybill/testing';
import { shuffle, transactionHistory } from '../../../__fixtures__/histories';
import { listQuery } from '../../application/queries/transactions.sql';
import { STATUS_SCHEMA } from '../../application/status.database';
import { readModelDdl } from './read-model.ddl';
import { applyTransactionEvents, ConcurrentProjectionError } from './read-model.writer';
import { STATUS_MIGRATIONS } from './status.migrations';

/**
 * The projection's writer against a real PostgreSQL: the same events twice give the same rows, and
 * so does any order, any split into batches, and two readers applying overlapping batches at once
 * (a consumer-group rebalance) — the rows are a function of the set of events read.
 */
describe('applyTransactionEvents (real PostgreSQL)', () => {
  let db: DataSource;
  const rnd = seededRandom(20_310_301);
  const events: TransactionEvent[] = [];

  beforeAll(async () => {
    db = await openServiceDataSource({ url: await createTestDatabase(), schema: STATUS_SCHEMA, migrations: STATUS_MIGRATIONS });
    for (let i = 0; i < 60; i++) events.push(...transactionHistory(i % 5 === 0 ? 'org_b' : 'org_a', `tx_${String(i).padStart(3, '0')}`, i * 7, rnd));
  });

  afterAll(() => db?.destroy());

  async function freshModel(schema: string): Promise<void> {
    await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
    await db.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
    for (const statement of readModelDdl(schema)) await db.query(statement);
  }

  async function snapshot(schema: string) {
    const s = quoteIdent(schema);
    return {
      transactions: await db.query(`SELECT * FROM ${s}.transactions ORDER BY id`),
      attempts: await db.query(`SELECT * FROM ${s}.delivery_attempts ORDER BY transaction_id, event_id`),
      events: await db.query(`SELECT * FROM ${s}.transaction_events ORDER BY transaction_id, event_id`),
      counts: await db.query(`SELECT status, sum(n)::int AS n FROM ${s}.transaction_counts GROUP BY status HAVING sum(n) <> 0 ORDER BY status`),
    };
  }

  /** Applies `list` in batches of the given sizes, each in its own transaction, retrying as a consumer does. */
  async function applyInBatches(schema: string, list: readonly TransactionEvent[], sizes: () => number): Promise<number> {
    let applied = 0;
    for (let i = 0; i < list.length; ) {
      const n = sizes();
      const batch = list.slice(i, i + n);
      applied += (await withRetry(() => db.transaction((em: EntityManager) => applyTransactionEvents(em, schema, batch)))).events.length;
      i += n;
    }
    return applied;
  }

  it('in order of publication, then the same events all over again: the second pass changes nothing', async () => {
    expect(await applyInBatches(STATUS_SCHEMA, events, () => 25)).toBe(events.length);
    const once = await snapshot(STATUS_SCHEMA);
    expect(once.transactions).toHaveLength(60);
    expect(once.events).toHaveLength(events.length);

    expect(await applyInBatches(STATUS_SCHEMA, events, () => 40)).toBe(0);
    expect(await snapshot(STATUS_SCHEMA)).toEqual(once);
    // The counts by status, kept by deltas, are what counting the rows says.
    expect(once.counts).toEqual(await db.query(`SELECT status, count(*)::int AS n FROM status.transactions GROUP BY status ORDER BY status`));
  });

  it('shuffled, with repeats, in batches of any size: the same rows as in order', async () => {
    const inOrder = await snapshot(STATUS_SCHEMA);
    await freshModel('status_shuffled');
    const read = shuffle([...events, ...events.filter(() => rnd() < 0.2)], rnd);
    await applyInBatches('status_shuffled', read, () => 1 + Math.floor(rnd() * 60));
    expect(await snapshot('status_shuffled')).toEqual(inOrder);
  });

  it('two readers applying overlapping batches at once (a rebalance): the same rows as one reader', async () => {
    const inOrder = await snapshot(STATUS_SCHEMA);
    await freshModel('status_concurrent');
    const first = shuffle(events, seededRandom(1));
    const second = shuffle(events, seededRandom(2));
    await Promise.all([applyInBatches('status_concurrent', first, () => 30), applyInBatches('status_concurrent', second, () => 17)]);
    expect(await snapshot('status_concurrent')).toEqual(inOrder);
  });

  it('a row read before its transaction.received has no created_at and is left out of lists until the header arrives', async () => {
    await freshModel('status_partial');
    const history = transactionHistory('org_a', 'tx_late_header', 0, seededRandom(3));
    const [received, ...rest] = history;
    await db.transaction((em) => applyTransactionEvents(em, 'status_partial', rest));
    const [before] = await db.query(`SELECT created_at, relationship_id, channel_id FROM status_partial.transactions`);
    expect(before).toMatchObject({ created_at: null, relationship_id: null });
    expect(before.channel_id).not.toBeNull();
    const listed = async () => {
      const q = listQuery({ orgId: 'org_a' }, null, 10, 'status_partial');
      return (await db.query(q.text, q.values)).map((r: { id: string }) => r.id);
    };
    expect(await listed()).toEqual([]);
    await db.transaction((em) => applyTransactionEvents(em, 'status_partial', [received]));
    expect(await listed()).toEqual(['tx_late_header']);
    const [after] = await db.query(`SELECT created_at, relationship_id FROM status_partial.transactions`);
    expect(after.created_at.toISOString()).toBe((received.data as { createdAt: string }).createdAt);
    expect(after.relationship_id).toBe((received.data as { relationshipId: string }).relationshipId);
  });
});

/** Retries what a consumer would retry: a row created concurrently, a deadlock between two readers. */
async function withRetry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const deadlock = (err as { code?: string }).code === '40P01';
      if (attempt >= 20 || !(err instanceof ConcurrentProjectionError || deadlock)) throw err;
    }
  }
}
