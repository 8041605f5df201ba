/**
 * `npm run chaos -- [--quick] [--seed N]`: Waybill's distributed mode with several instances of
 * every service, under a steady load of single-call transactions to partners of every kind —
 * healthy, 202 then accepted by API, 400, 500 then 200, hanging, pull, batch — while faults are
 * injected in turn at random moments: SIGKILL of one instance of each service (several times),
 * SIGKILL of the Kafka broker and its restart, a restart of PostgreSQL, an outage of the partners'
 * receiver, an instance added; and poison messages on the topics. Afterwards every transaction
 * Waybill accepted is checked (`checks.ts`): its final status is what its partner dictates, its
 * partner saw it, repeats are counted, consumer lag and outbox backlog return to 0, dead letters
 * hold the poison and nothing else. Progress on stderr; the last line on stdout is JSON:
 * `{ transactions, instances, lost, wrongStatus, duplicates, duplicatePct, recoverySecondsMax, faults, … }`.
 * Everything started is stopped, also on failure.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { request } from 'undici';
import { EmbeddedPostgresHandle, findFreePort, startEmbeddedPostgres } from '@waybill/persistence';
import { Edge, startEdge, Upstreams } from '@waybill/edge';
import { ApiClient, seededRandom, startOwnKafka } from '@waybill/testing';
import { Cluster, Instance, InstanceCounts, SERVICES } from '@waybill/distributed';
import { EXPECTED, FINAL, Kind, recoveries, verdict } from './checks';
import { Behaviour, ChaosReceiver } from './receiver';
import { pidOfConnection } from './sender';

interface Options {
  quick: boolean;
  seed: number;
  transactions: number;
  perSecond: number;
  counts: InstanceCounts;
}

const KINDS: Kind[] = ['ok', 'dispatch', 'reject', 'flaky', 'hang', 'batch', 'pull'];
/** How often each kind is sent: mostly healthy partners, as in life. */
const WEIGHTS: Record<Kind, number> = { ok: 5, dispatch: 1, reject: 1, flaky: 1, hang: 1, batch: 2, pull: 1 };
const CHANNELS_PER_KIND = 2;
const POISON = 'chaos-poison';

const t0 = Date.now();
const log = (line: string) => process.stderr.write(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv: string[]): Options {
  let quick = false;
  let seed = Date.now() % 100_000;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') quick = true;
    else if (argv[i] === '--seed') seed = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]} (use --quick, --seed N)`);
  }
  return {
    quick,
    seed,
    transactions: quick ? 2_000 : 10_000,
    // Slow enough that each fault has its own stretch to recover in (see `Fault.room`).
    perSecond: quick ? 10 : 20,
    counts: { 'channel-registry': 2, 'relationship-routing': 2, dispatcher: 3, 'status-projection': 2 },
  };
}

const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
async function cleanup(): Promise<void> {
  for (const c of cleanups.reverse()) {
    await Promise.race([c.run().catch((err) => log(`stopping ${c.what} failed: ${(err as Error).message}`)), sleep(30_000)]);
  }
  cleanups.length = 0;
}

interface Fault {
  name: string;
  /** Its share of the faults' stretch of the run: how long it takes to recover from, relatively (a broker restart 3, a kill 1). */
  room: number;
  /** Injects the fault; resolves once it is over (a broker restarted, the receiver back). */
  inject(): Promise<void>;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const rnd = seededRandom(opts.seed);
  const loadMs = (opts.transactions / opts.perSecond) * 1000;
  log(`${opts.quick ? 'quick: ' : ''}${opts.transactions} transactions at ${opts.perSecond}/s, instances ${JSON.stringify(opts.counts)}, seed ${opts.seed}`);

  const workDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-chaos-'));
  await chmod(workDir, 0o755);
  if (!process.env.CHAOS_KEEP) cleanups.push({ what: 'work dir', run: () => rm(workDir, { recursive: true, force: true }) });

  // PostgreSQL and Kafka on fixed ports: restarted, they come back where the services look.
  const pgPort = await findFreePort();
  const startPg = () => startEmbeddedPostgres({ dataDir: path.join(workDir, 'postgres'), port: pgPort, database: 'waybill' });
  let pg: EmbeddedPostgresHandle = await startPg();
  cleanups.push({ what: 'PostgreSQL', run: () => pg.stop() });
  const kafka = await startOwnKafka({ dataDir: path.join(workDir, 'kafka'), log: (l) => log(`kafka: ${l}`) });
  cleanups.push({ what: 'Kafka', run: () => kafka.stop() });

  const adminKey = `wba_${randomBytes(18).toString('base64url')}`;
  let edge: Edge | null = null;
  const cluster = new Cluster({
    env: {
      KAFKA_BROKERS: kafka.brokers.join(','),
      DATABASE_URL: pg.url,
      WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
      WAYBILL_ADMIN_KEY: adminKey,
      WAYBILL_ALLOW_PRIVATE_TARGETS: 'true',
      // The shortest session Waybill accepts: a silent instance's partitions go to the others, and
      // a restarted broker's groups form again, within seconds.
      WAYBILL_KAFKA_SESSION_TIMEOUT_MS: '3000',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error',
    },
    counts: opts.counts,
    ports: [],
    restart: true,
    log,
    onChange: (service, urls) => edge?.setUpstreams(service, urls),
  });
  cleanups.push({ what: 'services', run: () => cluster.stop() });
  log('starting the services');
  await cluster.start();
  const edgePort = await findFreePort();
  edge = await startEdge(edgePort, Object.fromEntries(SERVICES.map((s) => [s, cluster.urls(s)])) as unknown as Upstreams, '127.0.0.1', null);
  const started = edge;
  cleanups.push({ what: 'edge', run: () => new Promise((r) => started.close(r)) });
  // Each connection to the partners named by the dispatcher process behind it (`dispatcher#2`, `.2` its second run).
  const receiver = new ChaosReceiver((port, receiverPort) => {
    const dispatchers = cluster.all.filter((i) => i.service === 'dispatcher');
    const pid = pidOfConnection(port, receiverPort, dispatchers.map((i) => i.child.pid ?? 0));
    const by = dispatchers.find((i) => i.child.pid === pid);
    return by ? `${by.id}${by.starts > 1 ? `.${by.starts}` : ''}` : null;
  });
  await receiver.start();
  cleanups.push({ what: 'receiver', run: () => receiver.stop() });
  const base = `http://127.0.0.1:${edgePort}`;
  log(`ready: ${cluster.all.length} service processes behind ${base}`);

  // Partners: channels of every kind, and a relationship on each.
  const org = await must(new ApiClient(base, adminKey).post('/v1/organizations', { name: 'Chaos' }), 201, 'organisation');
  const api = new ApiClient(base, org.apiKey);
  const quickRetries = { strategy: 'fixed', maxRetries: 20, delayMs: 1_000 };
  const breaker = { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 2_000 };
  const routes: Array<{ kind: Kind; relationshipId: string; channelId: string }> = [];
  for (const kind of KINDS) {
    for (let n = 0; n < CHANNELS_PER_KIND; n++) {
      const channel =
        kind === 'pull'
          ? { name: `pull ${n}`, type: 'PULL', retryPolicy: quickRetries, visibilityTimeoutMs: 10_000 }
          : {
              name: `${kind} ${n}`,
              type: 'HTTP',
              url: receiver.url(kind as Behaviour, n),
              timeoutMs: kind === 'hang' ? 1_000 : 5_000,
              // Three tries over ~6 s: longer than the receiver's 3 s down, so every transaction reaches its partner at least once.
              retryPolicy: kind === 'hang' ? { strategy: 'fixed', maxRetries: 2, delayMs: 2_000 } : quickRetries,
              circuitBreaker: kind === 'hang' ? { ...breaker, volumeThreshold: 10_000 } : breaker,
              ...(kind === 'batch' && { batch: { maxItems: 10, maxWaitMs: 200 } }),
            };
      const ch = await must(api.post('/v1/channels', channel), 201, `channel ${kind}`);
      const rel = await must(api.post('/v1/relationships', { senderId: 'CHAOS', receiverId: `${kind.toUpperCase()}${n}`, transactionType: '850', channelId: ch.id }), 201, 'relationship');
      routes.push({ kind, relationshipId: rel.id, channelId: ch.id });
    }
  }
  const byKind = (kind: Kind) => routes.filter((r) => r.kind === kind);
  const deck = KINDS.flatMap((k) => Array<Kind>(WEIGHTS[k]).fill(k));

  // The load: single calls, each with its Idempotency-Key, retried as a careful client does.
  const accepted = new Map<string, Kind>();
  let sendErrors = 0;
  /** Answers 500 (a fault shown as a bug): a store restarting is 503 with Retry-After, a dead instance is retried by the edge. */
  let answers500 = 0;
  const send = async (i: number) => {
    const kind = deck[i % deck.length];
    const route = byKind(kind)[Math.floor(i / deck.length) % CHANNELS_PER_KIND];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const res = await api.post('/v1/transactions', { relationshipId: route.relationshipId, payload: { n: i } }, { 'idempotency-key': `chaos-${i}` }).catch(() => null);
      if (res && (res.status === 202 || res.status === 200)) {
        accepted.set(res.body.id, kind);
        return;
      }
      if (res?.status === 500) answers500++;
      await sleep(500);
    }
    sendErrors++;
  };
  let loading = true;
  // 202 partners: accepted by the API once DISPATCHED; pull partners: leased and acknowledged.
  const accepter = (async () => {
    while (loading || [...accepted.values()].some((k) => k === 'dispatch')) {
      const page = await api.get('/v1/transactions?status=DISPATCHED&limit=100').catch(() => null);
      for (const t of page?.status === 200 ? page.body.data : []) await api.post(`/v1/transactions/${t.id}/accept`).catch(() => null);
      if (!loading && (!page || page.status !== 200 || page.body.data.length === 0)) break;
      await sleep(1_000);
    }
  })();
  const pullers = byKind('pull').map(async (r) => {
    let idle = 0;
    while (loading || idle < 5) {
      const res = await api.get(`/v1/channels/${r.channelId}/messages?limit=100&waitMs=1000`).catch(() => null);
      const ids: string[] = res?.status === 200 ? res.body.data.map((m: { deliveryId: string }) => m.deliveryId) : [];
      if (ids.length > 0) await api.post(`/v1/channels/${r.channelId}/messages/ack`, { deliveryIds: ids }).catch(() => null);
      idle = ids.length > 0 ? 0 : idle + 1;
      if (!res || res.status !== 200) await sleep(500);
    }
  });

  // The faults, in turn, at random moments of the load's middle stretch.
  const kill = (service: (typeof SERVICES)[number], n: number): Fault => ({
    name: `SIGKILL ${service}#${n}`,
    room: 1,
    inject: async () => {
      const target = cluster.all.filter((i) => i.service === service)[n - 1] as Instance;
      cluster.kill(target, 'SIGKILL');
      await sleep(1_000);
      await cluster.readyAgain(target);
    },
  });
  const faults: Fault[] = [
    kill('relationship-routing', 1),
    kill('dispatcher', 1),
    kill('status-projection', 1),
    kill('channel-registry', 1),
    {
      name: 'SIGKILL Kafka, restart it',
      room: 3,
      inject: async () => {
        kafka.kill();
        await sleep(2_000);
        await kafka.restart();
      },
    },
    { name: 'poison messages', room: 0.5, inject: () => poison(kafka.brokers) },
    {
      name: 'restart PostgreSQL',
      room: 1.5,
      inject: async () => {
        await pg.stop();
        pg = await startPg();
      },
    },
    {
      name: 'partner receiver down for 3 s',
      room: 1,
      inject: async () => {
        await receiver.stop();
        await sleep(3_000);
        await receiver.start();
      },
    },
    {
      name: 'a dispatcher instance added',
      room: 1.5,
      inject: async () => {
        await cluster.add('dispatcher');
      },
    },
    ...(opts.quick
      ? []
      : [
          kill('dispatcher', 2),
          kill('status-projection', 2),
          kill('relationship-routing', 2),
          kill('dispatcher', 3),
          kill('channel-registry', 2),
          kill('dispatcher', 4),
        ]),
  ];
  const injected: Array<{ name: string; at: number; tookMs: number }> = [];
  // Between 10% and 75% of the load, in turn, each fault in a slot as long as its room: injected at
  // a random moment of the slot's first third, it has the rest to recover in before the next
  // (recoveries measured of faults on top of each other would say little of either).
  const unit = (loadMs * 0.65) / faults.reduce((n, f) => n + f.room, 0);
  const faulting = (async () => {
    let slotStart = Date.now() + loadMs * 0.1;
    for (const fault of faults) {
      const due = slotStart + rnd() * unit * fault.room * 0.3;
      await sleep(Math.max(0, due - Date.now()));
      const at = Date.now();
      // A fault injected late (the one before took long: an instance slow to start again) still has its room.
      slotStart = Math.max(slotStart + unit * fault.room, at + unit * fault.room * 0.7);
      log(`fault: ${fault.name}`);
      await fault.inject().catch((err) => log(`fault ${fault.name} failed: ${(err as Error).message}`));
      injected.push({ name: fault.name, at, tookMs: Date.now() - at });
    }
  })();

  log(`load: ${opts.transactions} single calls`);
  const loadStart = Date.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < opts.transactions; i++) {
    await sleep(Math.max(0, loadStart + (i * 1000) / opts.perSecond - Date.now()));
    calls.push(send(i));
  }
  await Promise.all(calls);
  await faulting;
  const loadEnd = Date.now();
  log(`load done: ${accepted.size} accepted, ${sendErrors} calls never accepted`);

  // Settle: every accepted transaction final (DISPATCHED ones accepted), lag and backlog drained.
  const statuses = await waitFinal(api, accepted, opts.quick ? 150_000 : 300_000);
  loading = false;
  await Promise.all([accepter, ...pullers]);
  const finalStatuses = await allStatuses(api);
  const drained = await waitDrained(cluster, 60_000);
  const dead = await deadLetters(kafka.brokers);

  const v = verdict(accepted, finalStatuses.size > 0 ? finalStatuses : statuses, receiver.arrivals);
  const pushShare = (KINDS.filter((k) => k !== 'pull').reduce((n, k) => n + WEIGHTS[k], 0)) / deck.length;
  const firsts = new Map<string, number>();
  for (const a of receiver.arrivals) if (!firsts.has(a.transactionId) || (firsts.get(a.transactionId) as number) > a.at) firsts.set(a.transactionId, a.at);
  const recovered = recoveries([...firsts.values()].filter((at) => at <= loadEnd), injected.map((f) => f.at), opts.perSecond * pushShare, loadEnd);
  // What reached the partners, second by second from the load's start (first arrivals): the stalls and the backlogs drained.
  const perSecond = new Array<number>(Math.ceil((loadEnd - loadStart) / 1000)).fill(0);
  for (const at of firsts.values()) if (at >= loadStart && at < loadEnd) perSecond[Math.floor((at - loadStart) / 1000)]++;
  log(`first arrivals per second: ${perSecond.join(' ')}`);
  log(`faults at (s from the load's start): ${injected.map((f) => ((f.at - loadStart) / 1000).toFixed(1)).join(' ')}`);
  // Every arrival and fault (ms from the load's start), for a closer look at a stall: CHAOS_ARRIVALS=file.json.
  if (process.env.CHAOS_ARRIVALS) {
    const rel = (at: number) => at - loadStart;
    await writeFile(process.env.CHAOS_ARRIVALS, JSON.stringify({ faults: injected.map((f) => ({ ...f, at: rel(f.at) })), arrivals: receiver.arrivals.map((a) => ({ ...a, at: rel(a.at) })) }));
  }
  // The longest stretch with nothing reaching a partner after each fault, until the next one (or
  // 30 s): a stall — a rebalance, a broker away.
  const sortedFirsts = [...firsts.values()].sort((a, b) => a - b);
  const stallMs = (from: number, to: number) => {
    const times = [from, ...sortedFirsts.filter((t) => t >= from && t <= to), to];
    return Math.max(0, ...times.slice(1).map((t, i) => t - times[i]));
  };
  injected.forEach((f, i) => {
    const stall = stallMs(f.at, Math.min(f.at + 30_000, injected[i + 1]?.at ?? loadEnd, loadEnd));
    log(`recovery after "${f.name}" (took ${(f.tookMs / 1000).toFixed(1)} s): ${recovered[i] === null ? 'not within the run' : `${recovered[i]} s`}; longest stall ${(stall / 1000).toFixed(1)} s`);
  });
  // Where the repeats came from: each repeated arrival, by the last fault before it.
  const firstOfPair = new Map<string, { at: number; from: string | null }>();
  const repeatsAfter = new Map<string, number[]>();
  for (const a of [...receiver.arrivals].sort((x, y) => x.at - y.at)) {
    const pair = `${a.deliveryId}#${a.attempt}`;
    const first = firstOfPair.get(pair);
    if (first === undefined) {
      firstOfPair.set(pair, { at: a.at, from: a.from });
      continue;
    }
    const before = injected.filter((f) => f.at <= a.at).pop();
    const key = `${before?.name ?? 'before any fault'} → ${a.behaviour}, sent by ${first.from ?? '?'} then ${a.from ?? '?'}`;
    repeatsAfter.set(key, [...(repeatsAfter.get(key) ?? []), a.at - first.at]);
  }
  // With how long after the first arrival each repeat came (ms): at once (two senders at the same
  // time), a lease's length later (a lease taken back), or much later (read again from the log).
  for (const [key, gaps] of repeatsAfter) {
    const sorted = [...gaps].sort((x, y) => x - y);
    log(`repeats after ${key}: ${gaps.length} (after the first by ${sorted[0]}–${sorted[sorted.length - 1]} ms, median ${sorted[sorted.length >> 1]})`);
  }
  for (const id of v.lost.slice(0, 10)) log(`lost: ${id} (${accepted.get(id)}) ${finalStatuses.get(id) ?? 'unknown'}`);
  for (const id of v.wrongStatus.slice(0, 10)) log(`wrong status: ${id} (${accepted.get(id)}) ${finalStatuses.get(id)} instead of ${EXPECTED[accepted.get(id) as Kind]}`);
  log(`lag and backlog drained: ${drained}; dead letters: ${dead.poison} of the poison, ${dead.other} others`);

  const result = {
    transactions: accepted.size,
    instances: cluster.processesStarted,
    lost: v.lost.length,
    wrongStatus: v.wrongStatus.length,
    duplicates: v.duplicates,
    duplicatePct: Math.round((10_000 * v.duplicates) / Math.max(1, accepted.size)) / 100,
    recoverySecondsMax: recovered.some((r) => r === null) ? null : Math.max(0, ...(recovered as number[])),
    faults: injected.length,
    drained,
    deadLettersUnexpected: dead.other,
    neverAccepted: sendErrors,
    answers500,
    seed: opts.seed,
  };
  await cleanup();
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function must<T = any>(p: Promise<{ status: number; body: T }>, status: number, what: string): Promise<T> {
  const res = await p;
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body;
}

/** Every transaction's status, by id, through the list (newest first, every page). */
async function allStatuses(api: ApiClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const res: { status: number; body: any } = await api.get(`/v1/transactions?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    if (res.status !== 200) throw new Error(`list: ${res.status}`);
    for (const t of res.body.data) out.set(t.id, t.status);
    cursor = res.body.nextCursor;
  } while (cursor);
  return out;
}

async function waitFinal(api: ApiClient, accepted: ReadonlyMap<string, Kind>, timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  let statuses = new Map<string, string>();
  let lastLog = 0;
  while (Date.now() < deadline) {
    statuses = await allStatuses(api).catch(() => statuses);
    const open = [...accepted.keys()].filter((id) => !FINAL.has(statuses.get(id) ?? '') || statuses.get(id) === 'DISPATCHED');
    if (open.length === 0) return statuses;
    if (Date.now() - lastLog > 10_000) {
      log(`settling: ${open.length} of ${accepted.size} not final yet`);
      lastLog = Date.now();
    }
    await sleep(2_000);
  }
  return statuses;
}

/** Until every instance's consumer lag and outbox backlog are 0; whether they got there in time. */
async function waitDrained(cluster: Cluster, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let left = 0;
    for (const instance of cluster.all) {
      const res = await request(`${instance.url}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 }).catch(() => null);
      const text = res ? await res.body.text() : '';
      for (const m of text.matchAll(/^waybill_(?:consumer_lag|outbox_backlog)_messages\{[^}]*\}\s+([0-9.e+]+)/gm)) left += Number(m[1]);
      if (!res) left++;
    }
    if (left === 0) return true;
    await sleep(1_000);
  }
  return false;
}

/** Unreadable messages on the topics every consumer group must survive: each one's value says it is poison. */
async function poison(brokers: string[]): Promise<void> {
  const kafka = new Kafka({ clientId: 'chaos', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: 'waybill.deliveries', messages: [1, 2, 3].map((n) => ({ key: `poison-${n}`, value: `${POISON} ${n}: not JSON` })) });
    await producer.send({ topic: 'waybill.transaction-events', messages: [4, 5].map((n) => ({ key: `poison-${n}`, value: `{"${POISON}": ${n}}` })) });
  } finally {
    await producer.disconnect();
  }
}

/** What the dead-letter topic holds: the poison, and anything else. */
async function deadLetters(brokers: string[]): Promise<{ poison: number; other: number }> {
  const kafka = new Kafka({ clientId: 'chaos-dead-letters', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets('waybill.dead-letters').catch(() => []);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + (Number(o.high) - Number(o.low)), 0);
  if (total === 0) return { poison: 0, other: 0 };
  const consumer = kafka.consumer({ groupId: `chaos-dead-letters-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: 'waybill.dead-letters', fromBeginning: true });
  let poisonCount = 0;
  let other = 0;
  let read = 0;
  await new Promise<void>((resolve) => {
    const done = setTimeout(resolve, 15_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        read++;
        if ((message.value?.toString() ?? '').includes(POISON)) poisonCount++;
        else other++;
        if (read >= total) {
          clearTimeout(done);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return { poison: poisonCount, other };
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => void cleanup().then(() => process.exit(130)));
}
