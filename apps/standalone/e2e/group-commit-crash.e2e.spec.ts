import { Client } from 'pg';
import { randomBytes } from 'node:crypto';
import { AS_A_USER_RUNS_IT, ApiClient, ApiResponse, createTestDatabase, eventually, freePort, startWaybill, stopWaybill, WaybillProcess } from '@waybill/testing';

const ADMIN_KEY = 'e2e-admin-key-group-commit-crash-0';
const CALLS = 12;

/**
 * Concurrent single calls share one database transaction (group commit). A crash before that
 * transaction commits must answer none of its calls 2xx, and leave nothing of them behind.
 */
describe('standalone: a crash before a group commit answers none of its calls', () => {
  let waybill: WaybillProcess | undefined;
  let locker: Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    env = {
      ...AS_A_USER_RUNS_IT,
      PORT: String(await freePort()),
      DATABASE_URL: databaseUrl,
      WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
      WAYBILL_ADMIN_KEY: ADMIN_KEY,
    };
    waybill = await startWaybill('standalone', env, 60_000);
    locker = new Client({ connectionString: databaseUrl });
    await locker.connect();
  }, 90_000);

  afterAll(async () => {
    await locker?.end();
    await stopWaybill(waybill);
  }, 30_000);

  it('SIGKILL while the group waits to commit: no call answered 2xx, nothing stored, nothing delivered later', async () => {
    const org = await new ApiClient(waybill!.baseUrl, ADMIN_KEY).post('/v1/organizations', { name: 'Group crash' });
    const api = new ApiClient(waybill!.baseUrl, org.body.apiKey);
    const channel = await api.post('/v1/channels', { name: 'Queue', type: 'PULL' });
    const rel = await api.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(rel.status).toBe(201);

    // The groups store their transactions, then append their events to the log: hold the log, so
    // that the running group waits inside its database transaction, the other calls behind it.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE messaging.log IN SHARE MODE');
    const answers: Array<Promise<ApiResponse | Error>> = Array.from({ length: CALLS }, (_, i) =>
      api.post('/v1/transactions', { relationshipId: rel.body.id, businessNumber: `CRASH-${i}`, payload: { i } }).catch((err: Error) => err),
    );
    const stored = async () =>
      (await locker.query("SELECT count(*)::int AS n FROM routing.transactions WHERE header->>'businessNumber' LIKE 'CRASH-%'")).rows[0].n as number;
    await eventually(
      async () => (await locker.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'messaging.log'::regclass AND NOT granted`)).rows[0].n,
      (n) => n > 0,
      20_000,
      'a group to wait inside its transaction',
    );
    let settled = 0;
    for (const a of answers) void a.then(() => settled++);
    await Promise.resolve();
    expect(settled).toBe(0);

    expect(await waybill!.stop('SIGKILL')).toBe('SIGKILL');
    await locker.query('ROLLBACK'); // the dead group's backend may go on, but it has no COMMIT to run
    const results = await Promise.all(answers);
    expect(results.filter((r) => !(r instanceof Error) && r.status >= 200 && r.status < 300)).toEqual([]);

    // Nothing of the group was committed, before the restart or after it.
    await eventually(
      async () => (await locker.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`)).rows[0].n,
      (n) => n === 0,
      20_000,
      "the dead process's backends to end",
    );
    expect(await stored()).toBe(0);
    waybill = await startWaybill('standalone', env, 60_000);
    const log = await locker.query(`SELECT count(*)::int AS n FROM messaging.log WHERE value LIKE '%CRASH-%'`);
    expect(log.rows[0].n).toBe(0);
    expect(await stored()).toBe(0);
    const list = await api.get(`/v1/channels/${channel.body.id}/messages?limit=100`);
    expect(list).toMatchObject({ status: 200, body: { data: [] } });
  }, 120_000);
});
