import { ApiClient, eventually, PartnerReceiver, runToExit } from '@waybill/testing';
import { ADMIN_KEY, channelWithRelationship, send, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

jest.setTimeout(60_000);

/**
 * Rebuild: the whole log replayed into a fresh read model, which the running service then switches
 * to. After a mixed workload the rebuilt model equals the live one row for row (its facts
 * included); and a rebuild run while transactions keep arriving loses nothing across the switch.
 */
describe('status projection: rebuild (Kafka)', () => {
  let waybill: Waybill;
  let receiver: PartnerReceiver;
  let api: ApiClient;
  const admin = () => new ApiClient(waybill.url, ADMIN_KEY);

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    receiver.always('/dispatch', { status: 202 });
    receiver.always('/reject', { status: 400 });
    receiver.always('/down', { status: 500 });
    receiver.always('/later', { status: 503 });
    receiver.always('/flaky', { status: 500 });
    waybill = await startWaybillInProcess();
    ({ api } = await waybill.organization());
  });

  afterAll(async () => {
    await waybill?.stop();
    await receiver?.stop();
  });

  /** The read model as it is, every column of every row. */
  async function readModel() {
    const q = async (sql: string) => (await waybill.db.query(sql)).rows;
    return {
      transactions: await q('SELECT * FROM status.transactions ORDER BY id'),
      attempts: await q('SELECT * FROM status.delivery_attempts ORDER BY transaction_id, event_id'),
      events: await q('SELECT * FROM status.transaction_events ORDER BY transaction_id, event_id'),
      counts: await q('SELECT status, sum(n)::int AS n FROM status.transaction_counts GROUP BY status HAVING sum(n) <> 0 ORDER BY status'),
    };
  }

  async function rebuildOverHttp() {
    const started = await admin().post('/admin/projection/rebuild');
    expect(started.status).toBe(202);
    expect(started.body.phase).toBe('REPLAYING');
    return eventually(
      async () => (await admin().get('/admin/projection/rebuild')).body,
      (s) => s.phase === 'DONE' || s.phase === 'FAILED',
      45_000,
      'the rebuild to end',
    );
  }

  it('after a mixed workload, `npm run projection:rebuild` gives a read model equal to the live one', async () => {
    const fast = { retryPolicy: { strategy: 'fixed', maxRetries: 1, delayMs: 100 } };
    const ok = await channelWithRelationship(api, receiver.url('/ok'));
    const dispatch = await channelWithRelationship(api, receiver.url('/dispatch'));
    const reject = await channelWithRelationship(api, receiver.url('/reject'));
    const down = await channelWithRelationship(api, receiver.url('/down'), fast);
    const later = await channelWithRelationship(api, receiver.url('/later'), { retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 600_000 } });
    const flaky = await channelWithRelationship(api, receiver.url('/flaky'), fast);
    const sent = async (rel: string, n: number) => Promise.all(Array.from({ length: n }, () => send(api, rel)));
    const [accepted, dispatched, rejected, failed, sending, redelivered] = await Promise.all([
      sent(ok.relationshipId, 8),
      sent(dispatch.relationshipId, 4),
      sent(reject.relationshipId, 3),
      sent(down.relationshipId, 3),
      sent(later.relationshipId, 2),
      sent(flaky.relationshipId, 3),
    ]);
    for (const id of dispatched) await statusOf(api, id, 'DISPATCHED');
    for (const id of dispatched.slice(0, 2)) expect((await api.post(`/v1/transactions/${id}/accept`)).status).toBe(200);
    for (const id of redelivered) await statusOf(api, id, 'FAILED');
    receiver.always('/flaky', { status: 200 });
    expect((await api.post('/v1/transactions/redeliver', { status: 'FAILED', channelId: flaky.channelId })).body).toEqual({ count: 3 });
    for (const id of accepted) await statusOf(api, id, 'ACCEPTED');
    for (const id of rejected) await statusOf(api, id, 'REJECTED');
    for (const id of failed) await statusOf(api, id, 'FAILED');
    for (const id of redelivered) await statusOf(api, id, 'ACCEPTED');
    for (const id of sending) await eventually(async () => (await api.get(`/v1/transactions/${id}`)).body, (t) => t.status === 'SENDING' && t.nextAttemptAt !== null);

    const live = await readModel();
    expect(live.transactions).toHaveLength(23);
    expect(live.counts).toEqual([
      { status: 'ACCEPTED', n: 8 + 2 + 3 },
      { status: 'DISPATCHED', n: 2 },
      { status: 'FAILED', n: 3 },
      { status: 'REJECTED', n: 3 },
      { status: 'SENDING', n: 2 },
    ]);

    const cli = await runToExit('tools/projection/rebuild.ts', { WAYBILL_URL: waybill.url, WAYBILL_ADMIN_KEY: ADMIN_KEY }, 45_000);
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: '' });
    expect(cli.stdout).toMatch(/done in [\d.]+ s: \d+ events, 23 transactions/);

    expect(await readModel()).toEqual(live);
    expect((await api.get(`/v1/transactions/${redelivered[0]}`)).body).toMatchObject({ status: 'ACCEPTED' });
    const schemas = (await waybill.db.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'status%' ORDER BY 1`)).rows.map((r) => r.nspname);
    expect(schemas).toEqual(['status']);
  });

  it('a rebuild run while transactions keep arriving switches without losing or repeating any', async () => {
    receiver.always('/busy', { status: 200 });
    const busy = await channelWithRelationship(api, receiver.url('/busy'));
    const arriving: Promise<string>[] = [];
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        arriving.push(send(api, busy.relationshipId));
        await arriving[arriving.length - 1];
      }
    })();
    // Some traffic before, during and after the switch.
    await eventually(async () => arriving.length, (n) => n >= 5);
    const state = await rebuildOverHttp();
    expect(state).toMatchObject({ phase: 'DONE', error: null });
    await eventually(async () => arriving.length, (n) => n >= state.transactions - 23 + 5);
    sending = false;
    await traffic;
    const ids = await Promise.all(arriving);
    for (const id of ids) await statusOf(api, id, 'ACCEPTED');

    // The model the switch left, once quiet, is what a rebuild from scratch gives.
    const afterSwitch = await readModel();
    expect(afterSwitch.transactions.map((t) => t.id)).toEqual(expect.arrayContaining(ids));
    expect(afterSwitch.events.filter((e) => e.type === 'delivery.attempted.v1' && ids.includes(e.transaction_id))).toHaveLength(ids.length);
    expect((await rebuildOverHttp()).phase).toBe('DONE');
    expect(await readModel()).toEqual(afterSwitch);
  });

  it('is refused without the admin key', async () => {
    expect((await new ApiClient(waybill.url, 'wb_not-the-admin-key').post('/admin/projection/rebuild')).status).toBe(401);
    expect((await api.post('/admin/projection/rebuild')).status).toBe(401);
  });
});
