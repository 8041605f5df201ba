import { Client } from 'pg';
import { eventMessage, MessageTransport } from '@waybill/messaging';
import { TRANSPORT } from '@waybill/platform';
import { ApiClient, eventually, PartnerReceiver } from '@waybill/testing';
import { allPages, channelWithRelationship, send, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

/**
 * The status service over real Kafka and PostgreSQL, with the other three services in the same
 * process delivering to a real HTTP receiver: reads and their filters, pagination while
 * transactions arrive, accept, redeliver, the sweep, alerts and metrics — as the API shows them.
 */
jest.setTimeout(30_000);

describe('status projection: queries and operations (Kafka)', () => {
  let waybill: Waybill;
  let receiver: PartnerReceiver;
  const FAST_FAIL = { retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 100 } };
  const NO_RETRY = { retryPolicy: { strategy: 'fixed', maxRetries: 0, delayMs: 100 } };

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    receiver.always('/dispatch', { status: 202, body: 'queued' });
    receiver.always('/reject', { status: 400, body: 'bad order' });
    receiver.always('/down', { status: 500, body: 'down' });
    receiver.always('/later', { status: 503 });
    receiver.always('/hang', { hang: true });
    waybill = await startWaybillInProcess();
  });

  afterAll(async () => {
    await waybill?.stop();
    await receiver?.stop();
  });

  describe('one transaction', () => {
    it('GET shows its status, its attempts oldest first, and its whole history at …/events, oldest first', async () => {
      const { api } = await waybill.organization();
      const { channelId, relationshipId } = await channelWithRelationship(api, receiver.url('/down'), FAST_FAIL);
      const id = await send(api, relationshipId);
      const failed = await statusOf(api, id, 'FAILED');
      expect(failed).toMatchObject({ id, channelId, relationshipId, nextAttemptAt: null, stream: 'LIVE' });
      expect(failed.attempts.map((a: any) => [a.attempt, a.statusCode, a.outcome])).toEqual([
        [1, 500, 'RETRYABLE'],
        [2, 500, 'RETRYABLE'],
        [3, 500, 'RETRYABLE'],
      ]);
      expect(failed.attempts[0].responseExcerpt).toBe('down');

      const history = await allPages(api, `/v1/transactions/${id}/events`);
      expect(history.map((e) => e.type)).toEqual([
        'transaction.received.v2',
        'delivery.attempted.v1',
        'delivery.retry-scheduled.v1',
        'delivery.attempted.v1',
        'delivery.retry-scheduled.v1',
        'delivery.attempted.v1',
        'transaction.failed.v1',
      ]);
      const times = history.map((e) => Date.parse(e.occurredAt));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(await allPages(api, `/v1/transactions/${id}/events`, 3)).toEqual(history);
    });

    it('shows SENDING while its first attempt hangs, long before the attempt times out', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/hang'), { timeoutMs: 20_000, ...NO_RETRY });
      const sentAt = Date.now();
      const id = await send(api, relationshipId);
      const sending = await statusOf(api, id, 'SENDING', 10_000);
      expect(Date.now() - sentAt).toBeLessThan(20_000); // seen while the request is still in flight
      expect(sending).toMatchObject({ attempts: [], nextAttemptAt: null });
      expect((await allPages(api, `/v1/transactions/${id}/events`)).map((e) => e.type)).toContain('delivery.started.v1');
    });

    it('shows SENDING while a pull channel holds it leased, and ACCEPTED once acknowledged', async () => {
      const { api } = await waybill.organization();
      const channel = (await api.post('/v1/channels', { name: 'Queue', type: 'PULL' })).body;
      const rel = (await api.post('/v1/relationships', { senderId: 'S', receiverId: 'R', transactionType: '850', channelId: channel.id })).body;
      const id = await send(api, rel.id);
      expect((await api.get(`/v1/transactions/${id}`)).body.status).toBe('PENDING');
      const leased = await api.get(`/v1/channels/${channel.id}/messages?limit=10&waitMs=10000`);
      expect(leased.body.data.map((m: { transactionId: string }) => m.transactionId)).toEqual([id]);
      await statusOf(api, id, 'SENDING');
      expect((await api.post(`/v1/channels/${channel.id}/messages/ack`, { deliveryIds: [leased.body.data[0].deliveryId] })).status).toBe(200);
      await statusOf(api, id, 'ACCEPTED');
    });

    it('shows SENDING with the time of its next attempt while a retry waits', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/later'), { retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 600_000 } });
      const id = await send(api, relationshipId);
      const sending = await statusOf(api, id, 'SENDING');
      const next = await eventually(async () => (await api.get(`/v1/transactions/${id}`)).body, (t) => t.nextAttemptAt !== null);
      expect(Date.parse(next.nextAttemptAt) - Date.parse(sending.attempts[0].at)).toBeGreaterThanOrEqual(590_000);
    });

    it('another organisation neither sees it nor its events (404)', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/ok'));
      const id = await send(api, relationshipId);
      const { api: other } = await waybill.organization('Other');
      expect((await other.get(`/v1/transactions/${id}`)).status).toBe(404);
      expect((await other.get(`/v1/transactions/${id}/events`)).status).toBe(404);
      expect((await other.post(`/v1/transactions/${id}/accept`)).status).toBe(404);
      expect((await other.post(`/v1/transactions/${id}/redeliver`)).status).toBe(404);
      expect((await other.get('/v1/transactions')).body.data).toEqual([]);
    });
  });

  describe('GET /v1/transactions', () => {
    let api: ApiClient;
    const ids: Record<'ok' | 'dispatch' | 'reject' | 'down', string[]> = { ok: [], dispatch: [], reject: [], down: [] };
    const channels: Record<string, string> = {};
    const relationships: Record<string, string> = {};
    let all: any[];

    beforeAll(async () => {
      ({ api } = await waybill.organization());
      for (const path of ['ok', 'dispatch', 'reject', 'down'] as const) {
        const c = await channelWithRelationship(api, receiver.url(`/${path}`), NO_RETRY);
        channels[path] = c.channelId;
        relationships[path] = c.relationshipId;
      }
      // One after the other, so that creation times are distinct and in this order.
      for (const [path, n] of [['ok', 3], ['dispatch', 2], ['reject', 2], ['down', 2], ['ok', 1]] as const) {
        for (let i = 0; i < n; i++) ids[path].push(await send(api, relationships[path]));
      }
      const expected = { ok: 'ACCEPTED', dispatch: 'DISPATCHED', reject: 'REJECTED', down: 'FAILED' } as const;
      for (const [path, list] of Object.entries(ids)) for (const id of list) await statusOf(api, id, expected[path as keyof typeof expected]);
      all = await allPages(api, '/v1/transactions');
    });

    const idsOf = (items: any[]) => items.map((t) => t.id);
    const list = async (query: string) => {
      const res = await api.get(`/v1/transactions?${query}`);
      expect(res.status).toBe(200);
      return idsOf(res.body.data);
    };

    it('lists every transaction of the organisation, newest first', () => {
      expect(all).toHaveLength(10);
      const sorted = [...all].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || (b.id < a.id ? -1 : 1));
      expect(idsOf(all)).toEqual(idsOf(sorted));
      expect(all[0]).toMatchObject({ id: ids.ok[3], status: 'ACCEPTED', channelId: channels.ok, relationshipId: relationships.ok });
      expect(all[0]).not.toHaveProperty('attempts');
    });

    it('by status, one or several (status may repeat)', async () => {
      expect(await list('status=ACCEPTED')).toEqual([...ids.ok].reverse());
      expect(await list('status=DISPATCHED')).toEqual([...ids.dispatch].reverse());
      expect((await list('status=REJECTED&status=FAILED')).sort()).toEqual([...ids.reject, ...ids.down].sort());
      expect(await list('status=REJECTED&status=FAILED')).toEqual(idsOf(all.filter((t) => ['REJECTED', 'FAILED'].includes(t.status))));
      expect(await list('status=PENDING&status=SENDING')).toEqual([]);
    });

    it('by channel, by relationship, and both with a status', async () => {
      expect(await list(`channelId=${channels.dispatch}`)).toEqual([...ids.dispatch].reverse());
      expect(await list(`relationshipId=${relationships.ok}`)).toEqual([...ids.ok].reverse());
      expect(await list(`relationshipId=${relationships.ok}&status=ACCEPTED&channelId=${channels.ok}`)).toEqual([...ids.ok].reverse());
      expect(await list(`channelId=${channels.ok}&status=FAILED`)).toEqual([]);
    });

    it('by creation time: createdAfter inclusive, createdBefore exclusive', async () => {
      const oldestFirst = [...all].reverse();
      const from = oldestFirst[2].createdAt;
      const to = oldestFirst[7].createdAt;
      expect(await list(`createdAfter=${from}&createdBefore=${to}`)).toEqual(idsOf(oldestFirst.slice(2, 7)).reverse());
      expect(await list(`createdAfter=${from}&createdBefore=${to}&status=ACCEPTED`)).toEqual([ids.ok[2]]);
      expect(await list(`createdBefore=${oldestFirst[0].createdAt}`)).toEqual([]);
    });

    it('pages with an opaque cursor, each page newest first, and the cursor keeps the filters apart', async () => {
      const pages = await allPages(api, '/v1/transactions?status=ACCEPTED&status=DISPATCHED', 2);
      expect(idsOf(pages)).toEqual(await list('status=ACCEPTED&status=DISPATCHED&limit=100'));
      const first = await api.get('/v1/transactions?limit=3');
      expect(first.body.data).toHaveLength(3);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const last = await api.get('/v1/transactions?limit=100');
      expect(last.body.nextCursor).toBeNull();
    });

    it.each([
      ['an unknown status', 'status=LOST'],
      ['a time that is not RFC 3339', 'createdAfter=yesterday'],
      ['a limit out of range', 'limit=101'],
      ['a cursor it never gave', 'cursor=bm9wZQ'],
      ['an unknown parameter', 'colour=red'],
    ])('answers 400 for %s', async (_, query) => {
      const res = await api.get(`/v1/transactions?${query}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    });
  });

  it('pagination stays exact while new transactions arrive: no repeats, nothing that was there skipped, newest first', async () => {
    const { api } = await waybill.organization();
    const { relationshipId } = await channelWithRelationship(api, receiver.url('/ok'));
    const before = await Promise.all(Array.from({ length: 24 }, () => send(api, relationshipId)));
    const walked: any[] = [];
    const arrived: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api.get(`/v1/transactions?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      walked.push(...page.body.data);
      cursor = page.body.nextCursor;
      // New transactions arrive between pages, and some change status (accepted by the partner).
      arrived.push(...(await Promise.all([send(api, relationshipId), send(api, relationshipId)])));
    } while (cursor);
    const walkedIds = walked.map((t) => t.id);
    expect(new Set(walkedIds).size).toBe(walkedIds.length);
    expect(walkedIds).toEqual(expect.arrayContaining(before));
    const keys = walked.map((t) => `${t.createdAt}|${t.id}`);
    expect(keys).toEqual([...keys].sort().reverse());
    // Everything is there once the walk is over.
    expect((await allPages(api, '/v1/transactions')).map((t) => t.id)).toEqual(expect.arrayContaining([...before, ...arrived]));
  });

  describe('POST /v1/transactions/{id}/accept', () => {
    it('turns DISPATCHED into ACCEPTED; two concurrent accepts end in one ACCEPTED; repeating it is safe', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/dispatch'));
      const id = await send(api, relationshipId);
      await statusOf(api, id, 'DISPATCHED');
      const [a, b] = await Promise.all([api.post(`/v1/transactions/${id}/accept`), api.post(`/v1/transactions/${id}/accept`)]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(a.body).toMatchObject({ id, status: 'ACCEPTED' });
      // Once it answered 200, a read shows ACCEPTED at once.
      expect((await api.get(`/v1/transactions/${id}`)).body.status).toBe('ACCEPTED');
      const accepts = (await allPages(api, `/v1/transactions/${id}/events`)).filter((e) => e.type === 'transaction.accepted.v1');
      expect(accepts).toHaveLength(1);
      expect(accepts[0].data).toMatchObject({ transactionId: id, by: 'API' });
      const again = await api.post(`/v1/transactions/${id}/accept`);
      expect(again.status).toBe(200);
      expect(again.body.status).toBe('ACCEPTED');
    });

    it('answers 503 with Retry-After when the read model cannot show it within 5 s; the accept is recorded and repeating it answers 200', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/dispatch'));
      const id = await send(api, relationshipId);
      await statusOf(api, id, 'DISPATCHED');
      // Hold the row, as a stuck projection would: the accept's event cannot be applied meanwhile.
      const holder = new Client({ connectionString: waybill.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM status.transactions WHERE id = $1 FOR UPDATE', [id]);
        const started = Date.now();
        const res = await api.post(`/v1/transactions/${id}/accept`);
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('1');
        expect(res.body).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
        expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      const again = await api.post(`/v1/transactions/${id}/accept`);
      expect(again.status).toBe(200);
      expect(again.body.status).toBe('ACCEPTED');
      const accepts = (await allPages(api, `/v1/transactions/${id}/events`)).filter((e) => e.type === 'transaction.accepted.v1');
      expect(accepts).toHaveLength(1);
    });

    it('answers 409 from any other status, and changes nothing', async () => {
      const { api } = await waybill.organization();
      const ok = await channelWithRelationship(api, receiver.url('/ok'));
      const down = await channelWithRelationship(api, receiver.url('/down'), NO_RETRY);
      const accepted = await send(api, ok.relationshipId);
      const failed = await send(api, down.relationshipId);
      await statusOf(api, accepted, 'ACCEPTED');
      await statusOf(api, failed, 'FAILED');
      for (const id of [accepted, failed]) {
        const res = await api.post(`/v1/transactions/${id}/accept`);
        expect(res.status).toBe(409);
        expect(res.body).toMatchObject({ status: 409, code: 'TRANSACTION_NOT_DISPATCHED' });
      }
      expect((await api.get(`/v1/transactions/${failed}`)).body.status).toBe('FAILED');
      expect((await api.post('/v1/transactions/tx_nope/accept')).status).toBe(404);
    });
  });

  describe('POST /v1/transactions/{id}/redeliver', () => {
    it('answers 409 while a delivery is in flight', async () => {
      const { api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/later'), { retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 600_000 } });
      const id = await send(api, relationshipId);
      await statusOf(api, id, 'SENDING');
      const res = await api.post(`/v1/transactions/${id}/redeliver`);
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('TRANSACTION_IN_FLIGHT');
    });

    it('delivers a FAILED transaction again, as a new delivery; PENDING at once, so a second redeliver is refused', async () => {
      const { api } = await waybill.organization();
      const path = '/flaky-one';
      receiver.always(path, { status: 500 });
      const { relationshipId } = await channelWithRelationship(api, receiver.url(path), NO_RETRY);
      const id = await send(api, relationshipId);
      const failed = await statusOf(api, id, 'FAILED');
      receiver.always(path, { slowMs: 1_000, status: 200 });
      const res = await api.post(`/v1/transactions/${id}/redeliver`);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id, status: 'PENDING' });
      expect((await api.post(`/v1/transactions/${id}/redeliver`)).status).toBe(409);
      const accepted = await statusOf(api, id, 'ACCEPTED');
      expect(accepted.attempts).toHaveLength(2);
      expect(accepted.attempts[1].deliveryId).not.toBe(failed.attempts[0].deliveryId);
      const types = (await allPages(api, `/v1/transactions/${id}/events`)).map((e) => e.type);
      expect(types.filter((t) => t === 'transaction.received.v2')).toHaveLength(1); // names the first delivery
      expect(types.filter((t) => t === 'transaction.routed.v1')).toHaveLength(1); // the second
      expect(types.filter((t) => t === 'transaction.redelivery-requested.v1')).toHaveLength(1);
      expect(receiver.requestsTo(path).filter((r) => r.headers['waybill-transaction-id'] === id)).toHaveLength(2);
    });

    it('answers 422 when its relationship was deleted or has no channel, and leaves the status as it is', async () => {
      const { api } = await waybill.organization();
      const gone = await channelWithRelationship(api, receiver.url('/ok'));
      const unassigned = await channelWithRelationship(api, receiver.url('/dispatch'));
      const accepted = await send(api, gone.relationshipId);
      const dispatched = await send(api, unassigned.relationshipId);
      await statusOf(api, accepted, 'ACCEPTED');
      await statusOf(api, dispatched, 'DISPATCHED');
      expect((await api.delete(`/v1/relationships/${gone.relationshipId}`)).status).toBe(204);
      expect((await api.patch(`/v1/relationships/${unassigned.relationshipId}`, { channelId: null })).status).toBe(200);

      for (const [id, status] of [[accepted, 'ACCEPTED'], [dispatched, 'DISPATCHED']] as const) {
        const res = await api.post(`/v1/transactions/${id}/redeliver`);
        expect(res.status).toBe(422);
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.body).toMatchObject({ status: 422, code: 'RELATIONSHIP_HAS_NO_CHANNEL' });
        const after = (await api.get(`/v1/transactions/${id}`)).body;
        expect(after.status).toBe(status);
        expect(after.attempts).toHaveLength(1);
        const types = (await allPages(api, `/v1/transactions/${id}/events`)).map((e) => e.type);
        expect(types).not.toContain('transaction.redelivery-requested.v1');
        expect(types).not.toContain('transaction.failed.v1');
      }
      // A DISPATCHED one left alone can still be accepted.
      expect((await api.post(`/v1/transactions/${dispatched}/accept`)).status).toBe(200);
    });

    it('a request routing cannot route after all (relationship deleted meanwhile) leaves the status as it was, with no attempt', async () => {
      const { id: orgId, api } = await waybill.organization();
      const { relationshipId } = await channelWithRelationship(api, receiver.url('/ok'));
      const id = await send(api, relationshipId);
      await statusOf(api, id, 'ACCEPTED');
      expect((await api.delete(`/v1/relationships/${relationshipId}`)).status).toBe(204);
      // As a sweep or a redeliver that passed its check just before the delete would have asked.
      const transport = waybill.service.app.get<MessageTransport>(TRANSPORT);
      const now = new Date().toISOString();
      await transport.publish([
        eventMessage('transaction.redelivery-requested.v1', { orgId, key: id, data: { transactionId: id, requestedAt: now, generation: 1 } }),
      ]);
      const history = await eventually(
        async () => allPages(api, `/v1/transactions/${id}/events`),
        (events) => events.some((e) => e.type === 'transaction.redelivery-refused.v1'),
        20_000,
        'routing refuses the redelivery',
      );
      expect(history.find((e) => e.type === 'transaction.redelivery-refused.v1')?.data).toMatchObject({
        transactionId: id,
        reason: 'the relationship no longer exists',
      });
      const after = (await api.get(`/v1/transactions/${id}`)).body;
      expect(after.status).toBe('ACCEPTED');
      expect(after.attempts).toHaveLength(1);
      expect(history.map((e) => e.type)).not.toContain('transaction.failed.v1');
    });
  });

  describe('POST /v1/transactions/redeliver (the sweep)', () => {
    it('redelivers every match of status, channel and creation time, and only those', async () => {
      const { api } = await waybill.organization();
      receiver.always('/sweep-a', { status: 500 });
      receiver.always('/sweep-b', { status: 500 });
      const a = await channelWithRelationship(api, receiver.url('/sweep-a'), NO_RETRY);
      const b = await channelWithRelationship(api, receiver.url('/sweep-b'), NO_RETRY);
      const onA: string[] = [];
      for (let i = 0; i < 5; i++) onA.push(await send(api, a.relationshipId));
      const onB = [await send(api, b.relationshipId)];
      const createdA = [];
      for (const id of onA) createdA.push((await statusOf(api, id, 'FAILED')).createdAt);
      await statusOf(api, onB[0], 'FAILED');
      receiver.always('/sweep-a', { status: 200 });
      receiver.always('/sweep-b', { status: 200 });

      const swept = await api.post('/v1/transactions/redeliver', { status: 'FAILED', channelId: a.channelId, createdAfter: createdA[1], createdBefore: createdA[4] });
      expect(swept.status).toBe(202);
      expect(swept.body).toEqual({ count: 3 });
      for (const id of onA.slice(1, 4)) await statusOf(api, id, 'ACCEPTED');
      for (const id of [onA[0], onA[4], onB[0]]) expect((await api.get(`/v1/transactions/${id}`)).body.status).toBe('FAILED');

      const rest = await api.post('/v1/transactions/redeliver', { status: 'FAILED', channelId: a.channelId });
      expect(rest.body).toEqual({ count: 2 });
      for (const id of onA) await statusOf(api, id, 'ACCEPTED');
      expect((await api.get(`/v1/transactions/${onB[0]}`)).body.status).toBe('FAILED');
      expect((await api.post('/v1/transactions/redeliver', { status: 'FAILED', channelId: a.channelId })).body).toEqual({ count: 0 });
      // Each was delivered once more, not twice.
      for (const id of onA) expect(receiver.requestsTo('/sweep-a').filter((r) => r.headers['waybill-transaction-id'] === id)).toHaveLength(2);
    });

    it.each([
      ['a status with a delivery in flight', { status: 'SENDING' }],
      ['no status', {}],
      ['an unknown field', { status: 'FAILED', colour: 'red' }],
    ])('answers 400 for %s', async (_, body) => {
      const { api } = await waybill.organization();
      expect((await api.post('/v1/transactions/redeliver', body)).status).toBe(400);
    });
  });

  describe('GET /v1/alerts', () => {
    it('lists the alerts of the organisation, newest first, by channel and by type', async () => {
      const { id: orgId, api } = await waybill.organization();
      const down = await channelWithRelationship(api, receiver.url('/down'), FAST_FAIL);
      const tx = await send(api, down.relationshipId);
      await statusOf(api, tx, 'FAILED');
      const exhausted = await eventually(
        async () => (await api.get(`/v1/alerts?type=delivery.exhausted`)).body.data,
        (data) => data.length === 1,
      );
      expect(exhausted[0]).toMatchObject({ type: 'delivery.exhausted', channelId: down.channelId, transactionId: tx, attempts: 3 });

      // The dispatcher's circuit alerts, as it publishes them on waybill.alerts.
      const transport = waybill.service.app.get<MessageTransport>(TRANSPORT);
      const other = await channelWithRelationship(api, receiver.url('/ok'));
      const now = Date.now();
      const at = (s: number) => new Date(now + s * 1000).toISOString();
      await transport.publish([
        eventMessage('channel.circuit-opened.v1', { orgId, key: other.channelId, data: { channelId: other.channelId, at: at(1), reason: '5 of 10 failed' } }),
        eventMessage('channel.circuit-closed.v1', { orgId, key: other.channelId, data: { channelId: other.channelId, at: at(2) } }),
        eventMessage('channel.circuit-opened.v1', { orgId, key: down.channelId, data: { channelId: down.channelId, at: at(3), reason: 'timeouts' } }),
      ]);
      const all = await eventually(async () => allPages(api, '/v1/alerts', 2), (data) => data.length === 4);
      expect(all.map((a) => a.type)).toEqual(['channel.circuit-opened', 'channel.circuit-closed', 'channel.circuit-opened', 'delivery.exhausted']);
      expect(all[2]).toMatchObject({ channelId: other.channelId, reason: '5 of 10 failed', at: at(1) });
      expect((await api.get(`/v1/alerts?channelId=${other.channelId}`)).body.data.map((a: any) => a.type)).toEqual(['channel.circuit-closed', 'channel.circuit-opened']);
      expect((await api.get(`/v1/alerts?channelId=${down.channelId}&type=channel.circuit-opened`)).body.data).toHaveLength(1);
      expect((await api.get('/v1/alerts?type=channel.exploded')).status).toBe(400);
      const { api: stranger } = await waybill.organization('Stranger');
      expect((await stranger.get('/v1/alerts')).body.data).toEqual([]);

      const metrics = (await new ApiClient(waybill.url).get('/metrics')).body as string;
      expect(metrics).toMatch(/^waybill_channels_circuit_open [1-9]/m);
    });
  });

  it('GET /openapi.json documents the status endpoints, and leaves out /metrics and the admin ones', async () => {
    const doc = (await new ApiClient(waybill.url).get('/openapi.json')).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/transactions',
        '/v1/transactions/{id}',
        '/v1/transactions/{id}/events',
        '/v1/transactions/{id}/accept',
        '/v1/transactions/{id}/redeliver',
        '/v1/transactions/redeliver',
        '/v1/alerts',
      ]),
    );
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/metrics') || p.startsWith('/admin'))).toEqual([]);
  });

  it('GET /metrics: Prometheus text with transactions by status, attempts by outcome, latency, consumer lag, outbox backlog', async () => {
    const { api } = await waybill.organization();
    const { relationshipId } = await channelWithRelationship(api, receiver.url('/ok'));
    await statusOf(api, await send(api, relationshipId), 'ACCEPTED');
    const res = await new ApiClient(waybill.url).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body as string;
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
    expect(value(/^waybill_transactions\{status="ACCEPTED"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^waybill_delivery_attempts_total\{outcome="ACCEPTED"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^waybill_delivery_latency_seconds_count\{status="ACCEPTED"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^waybill_consumer_lag_messages\{group="waybill\.status-projection\.v2",topic="waybill\.transaction-events"\} \d+/m);
    expect(text).toMatch(/^waybill_outbox_backlog_messages\{schema="status"\} \d+/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('keeps a processed_events table only in routing, whose redelivery consumer dedupes through it', async () => {
    const { rows } = await waybill.db.query(
      `SELECT table_schema AS schema FROM information_schema.tables
        WHERE table_name = 'processed_events' AND table_schema IN ('registry', 'routing', 'status') ORDER BY 1`,
    );
    expect(rows.map((r) => r.schema)).toEqual(['routing']);
  });
});
