import { Client } from 'pg';
import { ApiClient, ApiResponse, eventually } from '@waybill/testing';
import { Harness, startHarness } from './__fixtures__/harness';

jest.setTimeout(60_000);

const XML = '<?xml version="1.0"?><Order><Number>PO-1</Number></Order>';

/**
 * Single calls of `POST /v1/transactions` that come together share one database transaction
 * (group commit). To make a group of known members, the test holds a lock that the running group
 * needs, lets the next callers queue behind it, and releases it.
 */
describe('ingestion: concurrent single calls share a database transaction', () => {
  let h: Harness;
  let api: ApiClient;
  let orgId: string;
  let rel: { id: string };
  let xmlRel: { id: string };
  let noChannel: { id: string };
  let locker: Client;
  let openers = 0;

  beforeAll(async () => {
    h = await startHarness();
    ({ api, id: orgId } = await h.organization('Acme'));
    const json = (await api.post('/v1/channels', { name: 'JSON', type: 'PULL' })).body;
    const xml = (await api.post('/v1/channels', { name: 'XML', type: 'PULL', format: 'XML' })).body;
    rel = (await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: json.id })).body;
    xmlRel = (await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '810', channelId: xml.id })).body;
    noChannel = (await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '997' })).body;
    locker = new Client({ connectionString: h.databaseUrl });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.end();
    await h?.stop();
  });

  const waitingCalls = async (): Promise<number> => {
    const text = (await h.anonymous.get('/metrics')).body as string;
    return Number(/^waybill_ingest_waiting_requests\s+(\d+)/m.exec(text)?.[1] ?? -1);
  };

  /**
   * Runs `calls` as one group: a first call takes the group commit and blocks on a lock the test
   * holds; `calls` queue behind it; once all of them wait, the lock goes and they run together.
   * `whileHeld` runs once every call waits. `table` is the table locked (the group's writes go to
   * `transactions`, then to the `outbox`).
   */
  async function asOneGroup<T>(
    calls: Array<() => Promise<T>>,
    whileHeld: (opener: Promise<ApiResponse>) => Promise<void> = async () => undefined,
    table = 'routing.transactions',
  ) {
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${table} IN SHARE MODE`);
    let released = false;
    try {
      const opener = api.post('/v1/transactions', { relationshipId: rel.id, businessNumber: `opener-${++openers}`, payload: { opener: true } });
      await eventually(
        async () => (await locker.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = $1::regclass AND NOT granted`, [table])).rows[0].n,
        (n) => n === 1,
        10_000,
        'the first group to wait for the lock',
      );
      const pending = calls.map((call) => call());
      await eventually(waitingCalls, (n) => n === calls.length, 10_000, 'every call to wait for the next group');
      await whileHeld(opener);
      await locker.query('COMMIT');
      released = true;
      expect((await opener).status).toBe(202);
      return await Promise.all(pending);
    } finally {
      if (!released) await locker.query('ROLLBACK');
    }
  }

  /** The database transaction that wrote each stored transaction (its row's xmin). */
  const writers = async (ids: string[]): Promise<Set<string>> =>
    new Set((await h.db.query('SELECT xmin::text AS x FROM routing.transactions WHERE id = ANY($1)', [ids])).rows.map((r) => r.x as string));

  it('answers each call with its own transaction, all stored by one database transaction', async () => {
    const answers = await asOneGroup(
      Array.from({ length: 20 }, (_, i) => () => api.post('/v1/transactions', { relationshipId: rel.id, businessNumber: `G-${i}`, payload: { n: i } })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    const ids = answers.map((a) => a.body.id as string);
    expect(new Set(ids).size).toBe(20);
    const rows = await h.db.query("SELECT id, header->>'businessNumber' AS bn, payload FROM routing.transactions WHERE id = ANY($1)", [ids]);
    const byId = new Map(rows.rows.map((r) => [r.id, r]));
    answers.forEach((a, i) => expect(byId.get(a.body.id)).toEqual({ id: a.body.id, bn: `G-${i}`, payload: `{"n":${i}}` }));
    expect((await writers(ids)).size).toBe(1);
  });

  it("one call's invalid input or Idempotency-Key conflict fails that call alone", async () => {
    const used = `used-${Date.now()}`;
    expect((await api.post('/v1/transactions', { relationshipId: rel.id, payload: { first: true } }, { 'idempotency-key': used })).status).toBe(202);
    const twice = `twice-${Date.now()}`;
    const clash = `clash-${Date.now()}`;
    const send = (body: object, key?: string) => () => api.post('/v1/transactions', body, key ? { 'idempotency-key': key } : {});
    const calls = [
      send({ relationshipId: rel.id, businessNumber: 'ok-1', payload: 1 }),
      send({ relationshipId: 'rel_unknown', payload: 1 }), // 404
      send({ relationshipId: xmlRel.id, payload: '<Order><Unclosed></Order>' }), // 400: not well-formed
      send({ relationshipId: noChannel.id, payload: 1 }), // 422
      send({ relationshipId: rel.id, payload: { first: false } }, used), // 409: the key was used with another body
      send({ relationshipId: rel.id, businessNumber: 'ok-2', payload: 2 }),
      send({ relationshipId: rel.id, payload: { same: true } }, twice), // the same key and body twice in one group
      send({ relationshipId: rel.id, payload: { same: true } }, twice),
      send({ relationshipId: rel.id, payload: { a: 1 } }, clash), // the same key with two bodies in one group
      send({ relationshipId: rel.id, payload: { a: 2 } }, clash),
      send({ relationshipId: xmlRel.id, businessNumber: 'ok-3', payload: XML }),
      send({ relationshipId: rel.id, stream: 'NEITHER', payload: 1 }), // 400 before it joins a group
    ];
    const answers: ApiResponse[] = await asOneGroup(calls.slice(0, -1));
    const [ok1, unknown, malformed, unassigned, reused, ok2, twiceA, twiceB, clashA, clashB, ok3] = answers;
    expect(unknown).toMatchObject({ status: 404 });
    expect(malformed).toMatchObject({ status: 400, body: { errors: [{ path: 'body.payload' }] } });
    expect(unassigned).toMatchObject({ status: 422, body: { code: 'RELATIONSHIP_HAS_NO_CHANNEL' } });
    expect(reused).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });
    expect([twiceA.status, twiceB.status]).toEqual([202, 200]);
    expect(twiceB.body.id).toBe(twiceA.body.id);
    expect([clashA.status, clashB.status]).toEqual([202, 409]);
    expect((await calls[calls.length - 1]()).status).toBe(400);

    const stored = [ok1, ok2, twiceA, clashA, ok3];
    for (const a of stored) expect(a.status).toBe(202);
    expect((await writers(stored.map((a) => a.body.id))).size).toBe(1);
    const kept = await h.db.query('SELECT count(*)::int AS n FROM routing.transactions WHERE org_id = $1 AND id = ANY($2)', [orgId, stored.map((a) => a.body.id)]);
    expect(kept.rows[0].n).toBe(stored.length);
  });

  it('answers no call before its group has committed', async () => {
    let answered = 0;
    const answers = await asOneGroup(
      Array.from({ length: 5 }, (_, i) => () => api.post('/v1/transactions', { relationshipId: rel.id, businessNumber: `W-${i}`, payload: i }).then((a) => (answered++, a))),
      async (opener) => {
        // The first group has stored its transaction and waits to append its events: not committed,
        // so not answered; nor is any call queued behind it, and nothing of theirs is visible.
        let openerAnswered = false;
        void opener.then(() => (openerAnswered = true));
        await Promise.resolve();
        expect(openerAnswered).toBe(false);
        expect(answered).toBe(0);
        const visible = await h.db.query("SELECT count(*)::int AS n FROM routing.transactions WHERE header->>'businessNumber' = ANY($1)", [
          [...Array.from({ length: 5 }, (_, k) => `W-${k}`), `opener-${openers}`],
        ]);
        expect(visible.rows[0].n).toBe(0);
      },
      'routing.outbox',
    );
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(202));
  });
});
