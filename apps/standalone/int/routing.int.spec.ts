import { ApiClient } from '@waybill/testing';
import { IdempotencyCleanup, RoutingAnswers } from '@waybill/relationship-routing';
import { Harness, startHarness } from './__fixtures__/harness';

const { BatchAccepted, RelationshipResponse, TransactionAccepted } = RoutingAnswers;

jest.setTimeout(30_000);

const X12 = 'ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *300101*1253*U*00401*000000001*0*P*>~GS*PO*ACME*GLOBEX~';
const XML = '<?xml version="1.0"?><Order><Number>PO-1</Number></Order>';

/** Relationships and ingestion over real PostgreSQL and Kafka. */
describe('relationship routing', () => {
  let h: Harness;
  let api: ApiClient;
  let orgId: string;
  let json: { id: string };
  let rel: { id: string };
  let seq = 0;

  beforeAll(async () => {
    h = await startHarness();
    ({ api, id: orgId } = await h.organization('Acme'));
    json = (await api.post('/v1/channels', { name: 'JSON', type: 'PULL' })).body;
    rel = (await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: json.id })).body;
  });
  afterAll(() => h?.stop());

  const count = async (table: string, where = 'org_id = $1', params: unknown[] = [orgId]) =>
    (await h.db.query(`SELECT count(*)::int AS n FROM routing.${table} WHERE ${where}`, params)).rows[0].n as number;
  const relationship = async (channelId: string | null | undefined, org = api) => {
    const res = await org.post('/v1/relationships', { senderId: `S${++seq}`, receiverId: 'R', transactionType: '810', ...(channelId !== undefined && { channelId }) });
    expect(res.status).toBe(201);
    return res.body;
  };

  describe('relationships', () => {
    it('creates, reads, lists by channel, refuses duplicates, overrides, unassigns and deletes', async () => {
      expect(RelationshipResponse.parse(rel)).toEqual(rel);
      expect(rel).toMatchObject({ senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: json.id, channelSource: 'EXPLICIT' });
      const dup = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850' });
      expect(dup).toMatchObject({ status: 409, body: { code: 'RELATIONSHIP_EXISTS' } });
      expect((await api.post('/v1/relationships', { senderId: 'A', receiverId: 'B', transactionType: 'C', channelId: 'ch_unknown' })).status).toBe(404);

      const other = (await api.post('/v1/channels', { name: 'Other', type: 'PULL' })).body;
      const r = await relationship(undefined);
      expect(r).toMatchObject({ channelId: null, channelSource: null });
      const assigned = await api.patch(`/v1/relationships/${r.id}`, { channelId: other.id });
      expect(assigned.body).toMatchObject({ channelId: other.id, channelSource: 'EXPLICIT' });
      expect((await api.get(`/v1/relationships?channelId=${other.id}`)).body.data.map((x: { id: string }) => x.id)).toEqual([r.id]);
      expect((await api.get(`/v1/relationships/${r.id}`)).body).toEqual(assigned.body);
      expect((await api.patch(`/v1/relationships/${r.id}`, { channelId: 'ch_unknown' })).status).toBe(404);
      expect((await api.patch(`/v1/relationships/${r.id}`, {})).status).toBe(400);

      const unassigned = await api.patch(`/v1/relationships/${r.id}`, { channelId: null });
      expect(unassigned.body).toMatchObject({ channelId: null, channelSource: null });
      const noChannel = await api.post('/v1/transactions', { relationshipId: r.id, payload: {} });
      expect(noChannel).toMatchObject({ status: 422, body: { code: 'RELATIONSHIP_HAS_NO_CHANNEL' } });

      expect((await api.delete(`/v1/relationships/${r.id}`)).status).toBe(204);
      expect((await api.get(`/v1/relationships/${r.id}`)).status).toBe(404);
      expect((await api.delete(`/v1/relationships/${r.id}`)).status).toBe(404);
      expect((await api.post('/v1/transactions', { relationshipId: r.id, payload: {} })).status).toBe(404);
      expect((await api.delete(`/v1/channels/${other.id}`)).status).toBe(204); // nothing uses it any more
    });
  });

  describe('POST /v1/transactions', () => {
    it('takes a transaction by relationship id or by sender, receiver and type, storing its payload with its events', async () => {
      const byId = await api.post('/v1/transactions', { relationshipId: rel.id, payload: { purchaseOrderNumber: 'PO-1' }, businessNumber: 'PO-1' });
      expect(byId.status).toBe(202);
      expect(TransactionAccepted.parse(byId.body)).toEqual(byId.body);
      expect(byId.body).toMatchObject({ status: 'PENDING', relationshipId: rel.id, channelId: json.id });
      const byNames = await api.post('/v1/transactions', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', payload: [1, 2], stream: 'TEST' });
      expect(byNames).toMatchObject({ status: 202, body: { relationshipId: rel.id } });
      const rows = await h.db.query('SELECT payload, format, header FROM routing.transactions WHERE id = ANY($1) ORDER BY id', [[byId.body.id, byNames.body.id]]);
      expect(rows.rows).toEqual([
        { payload: '{"purchaseOrderNumber":"PO-1"}', format: 'JSON', header: expect.objectContaining({ businessNumber: 'PO-1', stream: 'LIVE' }) },
        { payload: '[1,2]', format: 'JSON', header: expect.objectContaining({ businessNumber: null, stream: 'TEST' }) },
      ]);
      const unknown = await api.post('/v1/transactions', { senderId: 'NOBODY', receiverId: 'GLOBEX', transactionType: '850', payload: 1 });
      expect(unknown).toMatchObject({ status: 404, body: { detail: expect.stringContaining('NOBODY') } });
    });

    it('checks the payload against the channel’s format and the 1 MiB limit', async () => {
      const xml = await relationship((await api.post('/v1/channels', { name: 'XML', type: 'PULL', format: 'XML' })).body.id);
      const x12 = await relationship((await api.post('/v1/channels', { name: 'X12', type: 'PULL', format: 'X12' })).body.id);
      const send = (r: { id: string }, payload: unknown) => api.post('/v1/transactions', { relationshipId: r.id, payload });
      expect((await send(xml, XML)).status).toBe(202);
      expect((await send(xml, `\n  ${XML}`)).status).toBe(202);
      expect((await send(x12, X12)).status).toBe(202);
      const before = await count('transactions');
      for (const [r, payload, message] of [
        [xml, '<Order><Number>PO-1</Order>', /not well-formed XML/],
        [xml, '<Order>', /not well-formed XML/],
        [xml, 'PO-1', /not an XML document/],
        [xml, { Order: 1 }, /as a string/],
        [x12, 'GS*PO*ACME~', /ISA/],
        [x12, 42, /as a string/],
      ] as const) {
        const res = await send(r, payload);
        expect({ payload, status: res.status, errors: res.body.errors }).toEqual({ payload, status: 400, errors: [{ path: 'body.payload', message: expect.stringMatching(message) }] });
      }
      const big = await send(rel, { blob: 'x'.repeat(1024 * 1024) });
      expect(big).toMatchObject({ status: 413, body: { code: 'PAYLOAD_TOO_LARGE' } });
      expect(await count('transactions')).toBe(before);
    });
  });

  describe('Idempotency-Key', () => {
    const key = () => `key-${++seq}`;

    it('answers 200 with the first transaction for the same body (the same JSON value), 409 for another', async () => {
      const k = key();
      const first = await api.post('/v1/transactions', { relationshipId: rel.id, payload: { a: 1, b: [1, 2] } }, { 'idempotency-key': k });
      expect(first.status).toBe(202);
      const again = await api.post('/v1/transactions', { payload: { b: [1, 2], a: 1 }, relationshipId: rel.id }, { 'idempotency-key': k });
      expect(again).toMatchObject({ status: 200, body: first.body });
      const other = await api.post('/v1/transactions', { relationshipId: rel.id, payload: { a: 2 } }, { 'idempotency-key': k });
      expect(other).toMatchObject({ status: 409, body: { code: 'IDEMPOTENCY_KEY_REUSED' } });
      expect(await count('idempotency_keys', 'org_id = $1 AND key = $2', [orgId, k])).toBe(1);
      expect((await api.post('/v1/transactions', { relationshipId: rel.id, payload: 1 }, { 'idempotency-key': 'x'.repeat(256) })).body.errors).toEqual([
        { path: 'header.idempotency-key', message: expect.any(String) },
      ]);
    });

    it('is scoped to the organisation', async () => {
      const k = key();
      const other = await h.organization('Other');
      const theirChannel = (await other.api.post('/v1/channels', { name: 'C', type: 'PULL' })).body;
      const theirRel = await relationship(theirChannel.id, other.api);
      const mine = await api.post('/v1/transactions', { relationshipId: rel.id, payload: 1 }, { 'idempotency-key': k });
      const theirs = await other.api.post('/v1/transactions', { relationshipId: theirRel.id, payload: 1 }, { 'idempotency-key': k });
      expect([mine.status, theirs.status]).toEqual([202, 202]);
      expect(theirs.body.id).not.toBe(mine.body.id);
    });

    it('creates one transaction for concurrent requests with one key', async () => {
      const k = key();
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => api.post('/v1/transactions', { relationshipId: rel.id, payload: { concurrent: true } }, { 'idempotency-key': k })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      expect(await count('transactions', 'id = $1', [answers[0].body.id])).toBe(1);
    });

    it('forgets keys after 24 h (the clean-up), never before', async () => {
      const k = key();
      const first = await api.post('/v1/transactions', { relationshipId: rel.id, payload: 'old' }, { 'idempotency-key': k });
      const cleanup = h.service.app.get(IdempotencyCleanup);
      await cleanup.purgeExpired(new Date(Date.now() + 23 * 3600_000));
      expect((await api.post('/v1/transactions', { relationshipId: rel.id, payload: 'old' }, { 'idempotency-key': k })).body.id).toBe(first.body.id);
      await h.db.query(`UPDATE routing.idempotency_keys SET created_at = now() - interval '24 hours 1 second' WHERE key = $1`, [k]);
      expect(await cleanup.purgeExpired()).toBeGreaterThanOrEqual(1);
      const after = await api.post('/v1/transactions', { relationshipId: rel.id, payload: 'new body, new transaction' }, { 'idempotency-key': k });
      expect(after.status).toBe(202);
      expect(after.body.id).not.toBe(first.body.id);
    });
  });

  describe('POST /v1/transactions/batch', () => {
    it('answers item by item, in order, with each item’s key; a failing item changes nothing', async () => {
      const k1 = `batch-${++seq}`;
      const k2 = `batch-${++seq}`;
      const earlier = await api.post('/v1/transactions', { relationshipId: rel.id, payload: 'earlier' }, { 'idempotency-key': k2 });
      const before = await count('transactions');
      const res = await api.post('/v1/transactions/batch', {
        transactions: [
          { relationshipId: rel.id, payload: { n: 0 }, idempotencyKey: k1 },
          { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', payload: { n: 1 } },
          { relationshipId: 'rel_unknown', payload: 2 },
          { relationshipId: rel.id },
          { relationshipId: rel.id, payload: { n: 0 }, idempotencyKey: k1 },
          { relationshipId: rel.id, payload: { n: 5 }, idempotencyKey: k1 },
          { relationshipId: rel.id, payload: 'earlier', idempotencyKey: k2 },
          { relationshipId: rel.id, payload: 'x'.repeat(1024 * 1024 + 1) },
          'not an object',
          { relationshipId: rel.id, payload: 9, idempotencyKey: '' },
        ],
      });
      expect(res.status).toBe(202);
      expect(BatchAccepted.parse(res.body)).toEqual(res.body);
      const d = res.body.data;
      expect(d).toHaveLength(10);
      expect(d[0]).toMatchObject({ id: expect.stringMatching(/^tx_/), status: 'PENDING', idempotencyKey: k1 });
      expect(d[1]).toMatchObject({ id: expect.stringMatching(/^tx_/), relationshipId: rel.id });
      expect(d[2].error).toMatchObject({ status: 404, code: 'NOT_FOUND' });
      expect(d[3].error).toMatchObject({ status: 400, errors: [{ path: 'body.transactions[3].payload', message: 'is required' }] });
      expect(d[4]).toMatchObject({ id: d[0].id, idempotencyKey: k1, replayed: true });
      expect(d[5]).toMatchObject({ error: { status: 409, code: 'IDEMPOTENCY_KEY_REUSED' }, idempotencyKey: k1 });
      expect(d[6]).toMatchObject({ id: earlier.body.id, idempotencyKey: k2, replayed: true });
      expect(d[7].error).toMatchObject({ status: 413 });
      expect(d[8].error).toMatchObject({ status: 400, errors: [expect.objectContaining({ path: 'body.transactions[8]' })] });
      expect(d[9].error).toMatchObject({ status: 400, errors: [expect.objectContaining({ path: 'body.transactions[9].idempotencyKey' })] });
      expect(await count('transactions')).toBe(before + 2);
    });

    it('refuses an empty batch and one over 500 items, whole', async () => {
      expect((await api.post('/v1/transactions/batch', { transactions: [] })).body.errors[0].path).toBe('body.transactions');
      const tooMany = await api.post('/v1/transactions/batch', { transactions: Array.from({ length: 501 }, () => ({ relationshipId: rel.id, payload: 1 })) });
      expect(tooMany).toMatchObject({ status: 400, body: { errors: [{ path: 'body.transactions' }] } });
    });

    it('takes 500 at once, in one database transaction, in the order given', async () => {
      const before = await count('transactions');
      const started = Date.now();
      const res = await api.post('/v1/transactions/batch', {
        transactions: Array.from({ length: 500 }, (_, i) => ({ relationshipId: rel.id, payload: { line: i, sku: `SKU-${i}`, qty: i % 7 }, idempotencyKey: `bulk-${seq}-${i}` })),
      });
      const ms = Date.now() - started;
      expect(res.status).toBe(202);
      expect(res.body.data.every((d: { id?: string }) => d.id)).toBe(true);
      expect(await count('transactions')).toBe(before + 500);
      const ids: string[] = res.body.data.map((d: { id: string }) => d.id);
      expect([...ids].sort()).toEqual(ids); // time-ordered ids in item order: first attempts leave in this order
      process.stderr.write(`batch of 500 accepted in ${ms} ms\n`);
    });
  });
});
