/**
 * `npm run bench -- [--quick] [--mode kafka|embedded] [--ingest single|batch]`: Waybill's delivery benchmark.
 *
 * Starts Postgres (and Kafka in kafka mode), the services (kafka: the distributed mode, four
 * processes and the edge; embedded: the standalone app on its Postgres log), and a loopback
 * partner receiver in its own process (`receiver.ts`), then measures:
 *  1. raw limit — undici straight to the receiver at the dispatcher's concurrency;
 *  2. throughput — N transactions through `POST /v1/transactions/batch` over M channels;
 *  3. single calls — one transaction per `POST /v1/transactions`, 64 calls in flight, over 10
 *     channels: delivered/s and the CPU of the whole stack (Waybill's processes, PostgreSQL and
 *     Kafka; not the driver's or the receiver's, read from /proc) per transaction;
 *  4. latency — a steady 500 tx/s, as single calls (`--ingest single`, the default) or batches
 *     of 5: call → partner arrival, ingest answer → partner, and → ACCEPTED visible;
 *  5. isolation — run 2 again with 10 channels hanging and 10 answering 500;
 *  6. footprint — dispatcher RSS after 10,000 channels got one transaction each.
 * `deliveredPerSec` and `ratio` are run 3's with `--ingest single`, run 2's with `--ingest batch`;
 * both runs' figures are in the JSON line either way.
 * Progress goes to stderr; the last line on stdout is the JSON result.
 * Everything started is stopped, also on failure or Ctrl-C. Traffic stays on 127.0.0.1.
 *
 * BENCH_CPU_PROF_DIR=<dir> profiles every Waybill process (`cpu-profile.ts`, preloaded through
 * NODE_OPTIONS, which refuses `--cpu-prof` itself) into `<dir>/<app>-<pid>.cpuprofile`; summarise
 * one with `profile-summary.ts`; with BENCH_PHASE=throughput|single|latency|isolation as well,
 * the profiles cover that phase alone. BENCH_QUERY_COUNT_DIR=<dir> counts the statements each
 * Waybill process sends to PostgreSQL during BENCH_PHASE (default `single`; `query-count.ts`) and
 * prints them per transaction. BENCH_LATENCY_FILE=<file> keeps each transaction's answer
 * time and latency of the latency phase. BENCH_KEEP=1 keeps the temporary directory.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { startKafka } from '@waybill/kafka-local';
import { findFreePort, startEmbeddedPostgres } from '@waybill/persistence';
import { ApiClient, startDistributed, startWaybill, stopWaybill, WaybillProcess } from '@waybill/testing';

type Mode = 'kafka' | 'embedded';
/** How the load driver sends: one transaction per `POST /v1/transactions` (the way most callers do), or batches of 500. */
type Ingest = 'single' | 'batch';
const PHASES = ['throughput', 'single', 'latency', 'isolation', 'footprint'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  mode: Mode;
  ingest: Ingest;
  quick: boolean;
  /** Transactions of the single-call throughput phase (10 channels, `singleInFlight` calls at once). */
  singleTransactions: number;
  singleChannels: number;
  singleInFlight: number;
  /** The phases to run (`--only`; every one by default). The raw limit and the warm-up always run. */
  phases: Set<Phase>;
  channels: number;
  transactions: number;
  latencySeconds: number;
  latencyRate: number;
  footprintChannels: number;
}

const ROOT = path.resolve(__dirname, '../..');
const MAX_CONCURRENCY = 4; // per channel; 100 channels × 4 stays within the dispatcher's healthy budget (512 − 128)
const HEALTHY_BUDGET = 384;
/**
 * ingest→ACCEPTED is sampled on 1 transaction in 25, each polled every 50 ms with
 * GET /v1/transactions/{id} (the figure's resolution). Denser sampling (1 in 10 every 20 ms) made
 * thousands of GETs a second on the same two cores and measured the bench's own load.
 */
const ACCEPTED_SAMPLE = 25;
const ACCEPTED_POLL_MS = 50;

function parseArgs(argv: string[]): Options {
  let mode: Mode = 'kafka';
  let ingest: Ingest = 'single';
  let quick = false;
  let phases = new Set<Phase>(PHASES);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--mode') mode = argv[++i] as Mode;
    else if (a.startsWith('--mode=')) mode = a.slice(7) as Mode;
    else if (a === '--ingest') ingest = argv[++i] as Ingest;
    else if (a.startsWith('--ingest=')) ingest = a.slice(9) as Ingest;
    else if (a === '--only' || a.startsWith('--only=')) {
      const list = (a === '--only' ? argv[++i] : a.slice(7)).split(',');
      const unknown = list.filter((p) => !(PHASES as readonly string[]).includes(p));
      if (unknown.length > 0) throw new Error(`--only takes ${PHASES.join(',')}, not ${unknown.join(',')}`);
      phases = new Set(list as Phase[]);
      if (phases.has('isolation')) phases.add('throughput'); // isolation compares with the throughput run
    } else throw new Error(`unknown argument ${a} (use --quick, --mode kafka|embedded, --ingest single|batch, --only ${PHASES.join(',')})`);
  }
  if (mode !== 'kafka' && mode !== 'embedded') throw new Error(`--mode must be kafka or embedded, not ${mode}`);
  if (ingest !== 'single' && ingest !== 'batch') throw new Error(`--ingest must be single or batch, not ${ingest}`);
  return {
    mode,
    ingest,
    quick,
    singleTransactions: quick ? 5_000 : 20_000,
    singleChannels: 10,
    singleInFlight: 64,
    phases,
    channels: 100,
    transactions: quick ? 10_000 : 50_000,
    latencySeconds: quick ? 10 : 30,
    latencyRate: 500,
    footprintChannels: 10_000,
  };
}

/**
 * The driver's calls to Waybill (the ApiClient uses undici's global dispatcher): at most 256
 * connections, so that a rate Waybill cannot keep up with queues in the driver — and shows in the
 * latency, which counts from when each call was due — instead of overflowing the server's accept
 * backlog with thousands of connections.
 */
setGlobalDispatcher(new Agent({ connections: 256, keepAliveTimeout: 4_000 }));

const t0 = Date.now();
function log(line: string): void {
  process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.timeOrigin + performance.now();

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] * 10) / 10;
}

/** Runs `fn` over `items` with `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Cleanup: everything started registers how to stop it; run in reverse on exit, error or Ctrl-C.

const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  if (!cleaning) {
    cleaning = (async () => {
      for (const c of cleanups.reverse()) {
        log(`stopping ${c.what}`);
        await Promise.race([c.run().catch((err) => log(`stopping ${c.what} failed: ${(err as Error).message}`)), sleep(30_000)]);
      }
    })();
  }
  return cleaning;
}
// A failure in a promise nobody awaits yet (a poll, say) must still stop what was started.
process.on('unhandledRejection', (err) => {
  log(`failed: ${(err as Error)?.stack ?? err}`);
  void cleanup().then(() => process.exit(1));
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// The receiver process

interface ReceiverStats {
  requests: number;
  delivered: number;
  duplicates: number;
  firstOk: number;
  lastOk: number;
  hanging: number;
  paths: Record<string, { requests: number; ok: number; okFirst: number; okLast: number }>;
}

class Receiver {
  private readonly agent = new Agent({ connections: 4 });
  constructor(
    readonly child: ChildProcess,
    readonly base: string,
  ) {}

  static async start(): Promise<Receiver> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(__dirname, 'receiver.ts')], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push({
      what: 'receiver',
      run: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const port = await Promise.race([
      new Promise<number>((resolve) => lines.once('line', (l) => resolve(JSON.parse(l).port))),
      exited.then(() => Promise.reject(new Error('receiver exited before listening'))),
      sleep(30_000).then(() => Promise.reject(new Error('receiver not listening after 30 s'))),
    ]);
    return new Receiver(child, `http://127.0.0.1:${port}`);
  }

  private async ctl<T>(method: 'GET' | 'POST', p: string, body?: unknown): Promise<T> {
    const res = await request(`${this.base}/_ctl/${p}`, {
      method,
      dispatcher: this.agent,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    return (await res.body.json()) as T;
  }
  stats = () => this.ctl<ReceiverStats>('GET', 'stats');
  reset = () => this.ctl('POST', 'reset', {});
  behaviour = (hang: string[], fail: string[]) => this.ctl('POST', 'behaviour', { hang, fail });
  record = (on: boolean) => this.ctl('POST', 'record', { on });
  arrivals = () => this.ctl<Record<string, number>>('GET', 'arrivals');
  close = () => this.agent.close();
}

// ---------------------------------------------------------------------------------------------
// Waybill

interface Stack {
  api: ApiClient; // admin key
  /** Where `/metrics` with `waybill_transactions` answers. */
  projectionUrl: string;
  dispatcherPid: () => Promise<number>;
  /** Where the dispatcher's `/metrics` answers. */
  dispatcherUrl: string;
  /** Where relationship-routing's `/metrics` answers. */
  routingUrl: string;
  /** The process that runs Waybill (its services are it or its descendants). */
  rootPid: number | undefined;
  /** Every process tree of the stack: Waybill's, PostgreSQL's postmaster, Kafka's JVM (not the driver's or the receiver's). */
  stackRoots: number[];
}

/** The fields of `/proc/<pid>/stat` after the command name (state first); empty when the process is gone. */
async function statFields(pid: number | string): Promise<string[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : [];
}

async function childPids(parent: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (/^\d+$/.test(name) && Number((await statFields(name))[1]) === parent) pids.push(Number(name));
  }
  return pids;
}

/** `root` and all its descendants. */
async function processTree(root: number): Promise<number[]> {
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(await childPids(tree[i])));
  return tree;
}

/** The phase the profilers look at (the whole run for the CPU profiler when unset). */
const PHASE = process.env.BENCH_PHASE ?? (process.env.BENCH_QUERY_COUNT_DIR ? 'single' : undefined);
/** Preloaded into the Waybill processes: the CPU profiler, the statement counter. */
const PRELOADS = [
  ...(process.env.BENCH_CPU_PROF_DIR ? [path.join(__dirname, 'cpu-profile.ts')] : []),
  ...(process.env.BENCH_QUERY_COUNT_DIR ? [path.join(__dirname, 'query-count.ts')] : []),
];

/**
 * After a phase the statement counter looked at: the statements sent to PostgreSQL per
 * transaction, by process, and the most frequent ones.
 */
async function reportQueries(transactions: number): Promise<void> {
  const dir = process.env.BENCH_QUERY_COUNT_DIR;
  if (!dir) return;
  const deadline = Date.now() + 5_000;
  let files: string[] = [];
  while (Date.now() < deadline) {
    files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.queries.json'));
    if (files.length > 0) break;
    await sleep(100);
  }
  for (const f of files) {
    const { app, total, byStatement } = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { app: string; total: number; byStatement: Record<string, number> };
    log(`statements: ${app}: ${(total / transactions).toFixed(2)} per transaction (${total} in all)`);
    for (const [text, n] of Object.entries(byStatement).slice(0, 12)) log(`  ${(n / transactions).toFixed(3)}  ${text}`);
  }
}

/** Tells the profiled Waybill processes (see `cpu-profile.ts`) that `phase` starts or ends. */
async function markPhase(phase: string, root: number | undefined): Promise<void> {
  if (PHASE !== phase || root === undefined) return;
  for (const pid of await processTree(root)) {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').some((e) => e.startsWith('BENCH_PHASE='))) process.kill(pid, 'SIGUSR2');
  }
  log(`profile: ${phase} marked in the Waybill processes`);
}

/** CPU time (ms) the processes of the trees rooted at `roots` have used so far. */
async function treeCpuMs(...roots: number[]): Promise<number> {
  let ms = 0;
  for (const root of roots) for (const pid of await processTree(root)) ms += await processCpuMs(pid);
  return ms;
}

/** CPU (ms) one process has used: utime + stime, in USER_HZ ticks. */
async function processCpuMs(pid: number): Promise<number> {
  const fields = await statFields(pid);
  return ((Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 1000) / 100;
}

/**
 * CPU (ms) of the processes below `root` that run a service's app (`apps/<service>/src/main.ts`),
 * by service: in the distributed mode, each service's own share of the stack's CPU.
 */
async function cpuByService(root: number): Promise<Map<string, number>> {
  const byService = new Map<string, number>();
  for (const pid of await processTree(root)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const service = /apps\/([a-z-]+)\/src\/main\.ts/.exec(cmdline)?.[1];
    if (!service || service === 'standalone') continue;
    byService.set(service, (byService.get(service) ?? 0) + (await processCpuMs(pid)));
  }
  return byService;
}

/** The postmaster of the cluster in `pgdata` (the first line of its `postmaster.pid`). */
async function postmasterPid(pgdata: string): Promise<number> {
  const pid = Number((await readFile(path.join(pgdata, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${pgdata}`);
  return pid;
}

/**
 * Waits until Waybill is done with the previous phase (consumers catching up, the projection, the
 * database's autovacuum after a burst show as CPU): a steady-rate phase measures the steady state,
 * not the tail of a burst. At most `maxMs`.
 */
async function settle(roots: number[], maxMs = 30_000): Promise<void> {
  const started = Date.now();
  let before = await treeCpuMs(...roots);
  while (Date.now() - started < maxMs) {
    await sleep(1_000);
    const after = await treeCpuMs(...roots);
    if (after - before < 150) break; // under 15% of one core over the last second
    before = after;
  }
  log(`settled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

async function startStack(opts: Options, workDir: string): Promise<Stack> {
  const adminKey = `wba_${randomBytes(18).toString('base64url')}`;
  log('starting PostgreSQL' + (opts.mode === 'kafka' ? ' and Kafka' : ''));
  const [pg, kafka] = await Promise.all([
    startEmbeddedPostgres({ dataDir: path.join(workDir, 'postgres'), database: 'waybill' }),
    opts.mode === 'kafka' ? startKafka({ dataDir: path.join(workDir, 'kafka'), log: (l) => log(`kafka: ${l}`) }) : Promise.resolve(undefined),
  ]);
  cleanups.push({ what: 'PostgreSQL', run: () => pg.stop() });
  if (kafka) cleanups.push({ what: 'Kafka', run: () => kafka.stop() });
  const env: Record<string, string> = {
    NODE_ENV: '',
    LOG_LEVEL: 'warn',
    DATABASE_URL: pg.url,
    WAYBILL_ADMIN_KEY: adminKey,
    WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
    WAYBILL_ALLOW_PRIVATE_TARGETS: 'true',
    WAYBILL_DATA_DIR: path.join(workDir, 'waybill'),
    ...(PRELOADS.length > 0 && { NODE_OPTIONS: ['-r @swc-node/register', ...PRELOADS.map((p) => `-r ${p}`)].join(' ') }),
    ...(process.env.BENCH_CPU_PROF_DIR && { BENCH_CPU_PROF_DIR: path.resolve(process.env.BENCH_CPU_PROF_DIR) }),
    ...(process.env.BENCH_QUERY_COUNT_DIR && { BENCH_QUERY_COUNT_DIR: path.resolve(process.env.BENCH_QUERY_COUNT_DIR) }),
    ...(PHASE && { BENCH_PHASE: PHASE }),
  };
  let proc: WaybillProcess;
  let projectionUrl: string;
  let dispatcherUrl: string;
  let routingUrl: string;
  let dispatcherPid: () => Promise<number>;
  const port = await findFreePort();
  if (opts.mode === 'kafka') {
    // The services take WAYBILL_SERVICE_BASE_PORT … +3 in SERVICES order; pick a base with room.
    const base = await findFreePort(4);
    log(`starting the distributed mode (edge :${port}, services :${base}…${base + 3})`);
    const started = startDistributed({ ...env, PORT: String(port), KAFKA_BROKERS: (kafka?.brokers ?? []).join(','), WAYBILL_SERVICE_BASE_PORT: String(base) }, 180_000);
    cleanups.push({ what: 'distributed mode', run: async () => stopWaybill(await started.catch(() => undefined), 'SIGTERM', 30_000) });
    proc = await started;
    projectionUrl = `http://127.0.0.1:${base + 3}`;
    dispatcherUrl = `http://127.0.0.1:${base + 2}`;
    routingUrl = `http://127.0.0.1:${base + 1}`;
    const dispatcherEntry = path.join(ROOT, 'apps', 'dispatcher', 'src', 'main.ts');
    dispatcherPid = async () => {
      for (const pid of await childPids(proc.child.pid ?? -1)) {
        const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv.includes(dispatcherEntry)) return pid;
      }
      throw new Error('dispatcher process not found');
    };
  } else {
    log(`starting the standalone app (:${port}, embedded transport)`);
    const started = startWaybill('standalone', { ...env, PORT: String(port) }, 120_000);
    cleanups.push({ what: 'standalone app', run: async () => stopWaybill(await started.catch(() => undefined), 'SIGTERM', 30_000) });
    proc = await started;
    projectionUrl = proc.baseUrl;
    dispatcherUrl = proc.baseUrl;
    routingUrl = proc.baseUrl;
    dispatcherPid = async () => proc.child.pid ?? -1;
  }
  log(`Waybill ready at ${proc.baseUrl}`);
  const stackRoots = [proc.child.pid ?? -1, await postmasterPid(pg.dataDir), ...(kafka ? [kafka.pid] : [])];
  return { api: new ApiClient(proc.baseUrl, adminKey), projectionUrl, dispatcherUrl, routingUrl, dispatcherPid, rootPid: proc.child.pid, stackRoots };
}

/** A process's `/metrics`, as text. */
async function metricsText(url: string): Promise<string> {
  const res = await request(`${url}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return res.body.text();
}

/** The dispatcher's memory as its process sees it (prom-client's default metrics), in MB. */
async function memoryOf(url: string): Promise<string> {
  const text = await metricsText(url);
  const mb = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.e+]+)`, 'm').exec(text);
    return m ? `${(Number(m[1]) / 1024 / 1024).toFixed(1)}` : '?';
  };
  return `heap used ${mb('nodejs_heap_size_used_bytes')} of ${mb('nodejs_heap_size_total_bytes')} MB, external ${mb('nodejs_external_memory_bytes')} MB`;
}

/** The dispatcher's deliveries parked so far, by reason (the happy path parks none). */
async function parkedOf(url: string): Promise<string> {
  const counts = [...(await metricsText(url)).matchAll(/^waybill_dispatcher_parked_total\{reason="([a-z]+)"\}\s+([0-9.e+]+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  return counts.length > 0 ? counts.join(', ') : 'none';
}

/** A histogram's count and sum as `/metrics` shows them now. */
async function histogramOf(url: string, name: string): Promise<{ count: number; sum: number }> {
  const text = await metricsText(url);
  const read = (suffix: string) => Number(new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})?\\s+([0-9.e+]+)`, 'm').exec(text)?.[1] ?? 0);
  return { count: read('count'), sum: read('sum') };
}

async function acceptedCount(projectionUrl: string): Promise<number> {
  const m = /^waybill_transactions\{[^}]*status="ACCEPTED"[^}]*\}\s+([0-9.e+]+)/m.exec(await metricsText(projectionUrl));
  return m ? Number(m[1]) : 0;
}

async function must<T>(p: Promise<{ status: number; body: T }>, expect: number, what: string): Promise<T> {
  const res = await p;
  if (res.status !== expect) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
  return res.body;
}

interface Route {
  relationshipId: string;
  path: string;
}

/**
 * Creates `count` channels (`/<prefix>/<i>` on the receiver) and one relationship to each. All the
 * channels first, then the relationships: in the distributed mode a relationship naming a channel
 * that relationship-routing's replica has not seen yet waits for the replica to catch up, which
 * pair by pair costs a Kafka round trip each.
 */
/** `maxConcurrency` per channel: `null` leaves the API's default (10). */
async function createChannels(
  api: ApiClient,
  receiverBase: string,
  count: number,
  prefix: string,
  parallel: number,
  maxConcurrency: number | null = MAX_CONCURRENCY,
): Promise<Route[]> {
  const channelIds: string[] = new Array(count);
  const routes: Route[] = new Array(count);
  const indexes = Array.from({ length: count }, (_, i) => i);
  let done = 0;
  await pool(indexes, parallel, async (i) => {
    const p = `/${prefix}/${i}`;
    const channel = await must<any>(
      api.post('/v1/channels', {
        name: `bench ${prefix} ${i}`,
        type: 'HTTP',
        url: `${receiverBase}${p}`,
        format: 'JSON',
        timeoutMs: 30_000,
        retryPolicy: { strategy: 'fixed', maxRetries: 1, delayMs: 600_000 },
        batch: null,
        ...(maxConcurrency !== null && { maxConcurrency }),
      }),
      201,
      `channel ${p}`,
    );
    channelIds[i] = channel.id;
    if (++done % 2000 === 0) log(`  ${done}/${count} channels`);
  });
  done = 0;
  await pool(indexes, parallel, async (i) => {
    const rel = await must<any>(
      api.post('/v1/relationships', { senderId: 'BENCH', receiverId: `${prefix.toUpperCase()}${i}`, transactionType: '850', channelId: channelIds[i] }),
      201,
      `relationship ${prefix}/${i}`,
    );
    routes[i] = { relationshipId: rel.id, path: `/${prefix}/${i}` };
    if (++done % 2000 === 0) log(`  ${done}/${count} relationships`);
  });
  return routes;
}

const payload = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'purchase-order.json'), 'utf8'));

/** Ingests `count` transactions round-robin over `routes` in batches of 500, `inFlight` batches at once. */
async function ingest(api: ApiClient, routes: Route[], count: number, inFlight = 4, deadlineMs = 300_000): Promise<{ start: number; end: number; ids: string[] }> {
  const batchSize = 500;
  const batches = Math.ceil(count / batchSize);
  const ids: string[] = [];
  const start = now();
  const deadline = Date.now() + deadlineMs;
  await pool(
    Array.from({ length: batches }, (_, b) => b),
    inFlight,
    async (b) => {
      if (Date.now() > deadline) throw new Error('ingestion took too long');
      const n = Math.min(batchSize, count - b * batchSize);
      const transactions = Array.from({ length: n }, (_, k) => {
        const i = b * batchSize + k;
        return { relationshipId: routes[i % routes.length].relationshipId, businessNumber: `PO-${b}-${k}`, payload };
      });
      const body = await must<any>(api.post('/v1/transactions/batch', { transactions }), 202, `batch ${b}`);
      const errors = body.data.filter((d: any) => !d.id);
      if (errors.length) throw new Error(`batch ${b}: ${errors.length} items refused, e.g. ${JSON.stringify(errors[0])}`);
      for (const d of body.data) ids.push(d.id);
    },
  );
  return { start, end: now(), ids };
}

/**
 * Sends `count` transactions round-robin over `routes`, one per `POST /v1/transactions`, with
 * `inFlight` calls at once: the way an ERP or a partner's system calls.
 */
async function ingestSingle(api: ApiClient, routes: Route[], count: number, inFlight: number, deadlineMs = 300_000): Promise<{ start: number; end: number; ids: string[] }> {
  const ids: string[] = new Array(count);
  const start = now();
  const deadline = Date.now() + deadlineMs;
  await pool(
    Array.from({ length: count }, (_, i) => i),
    inFlight,
    async (i) => {
      if (Date.now() > deadline) throw new Error('ingestion took too long');
      const body = await must<any>(
        api.post('/v1/transactions', { relationshipId: routes[i % routes.length].relationshipId, businessNumber: `PO-${i}`, payload }),
        202,
        `transaction ${i}`,
      );
      ids[i] = body.id;
    },
  );
  return { start, end: now(), ids };
}

/**
 * Polls `read` until `done`. Every `everyMs` (100 ms): reading Waybill's `/metrics` costs it CPU,
 * which the single-call phase counts, so that phase polls it less often.
 */
async function waitFor<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, show: (v: T) => string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) {
      log(`  ${what}: gave up after ${timeoutMs / 1000} s at ${show(v)}`);
      return v;
    }
    if (Date.now() - lastLog > 5000) {
      log(`  ${what}: ${show(v)}`);
      lastLog = Date.now();
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The phases

async function rawLimit(receiver: Receiver, routes: Route[], total: number, concurrency: number): Promise<number> {
  await receiver.reset();
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    const body = JSON.stringify({ id: 'raw', payload });
    let next = 0;
    let limit = total;
    const run = async () => {
      while (next < limit) {
        const i = next++;
        const res = await request(`${receiver.base}${routes[i % routes.length].path}`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', 'waybill-transaction-id': `raw-${i}` },
          body,
        });
        await res.body.dump();
      }
    };
    // warm-up: open the connections
    limit = Math.min(total, concurrency * 4);
    await Promise.all(Array.from({ length: concurrency }, run));
    await receiver.reset();
    next = 0;
    limit = total;
    const start = now();
    await Promise.all(Array.from({ length: concurrency }, run));
    const stats = await receiver.stats();
    const perSec = stats.delivered / ((stats.lastOk - start) / 1000);
    log(`raw: ${stats.delivered} requests at ${concurrency} in flight: ${perSec.toFixed(0)}/s`);
    return perSec;
  } finally {
    await agent.close();
  }
}

interface ThroughputResult {
  deliveredPerSec: number;
  /** Delivered/s of the given paths (the healthy 80 in the isolation run). */
  perSecOf(paths: string[]): { delivered: number; perSec: number };
}

async function throughput(stack: Stack, receiver: Receiver, routes: Route[], n: number, deliveredTarget: number, timeoutMs: number, label: string): Promise<ThroughputResult> {
  log(`${label}: ingesting ${n} transactions over ${routes.length} channels`);
  const { start, end } = await ingest(stack.api, routes, n);
  log(`${label}: ingested in ${((end - start) / 1000).toFixed(1)} s (${(n / ((end - start) / 1000)).toFixed(0)}/s)`);
  const stats = await waitFor(
    `${label} deliveries`,
    () => receiver.stats(),
    (s) => s.delivered >= deliveredTarget,
    timeoutMs,
    (s) => `${s.delivered}/${deliveredTarget} delivered, ${s.requests} requests`,
  );
  const seconds = (stats.lastOk - start) / 1000;
  const deliveredPerSec = stats.delivered / seconds;
  log(`${label}: ${stats.delivered} delivered (${stats.duplicates} duplicates) in ${seconds.toFixed(1)} s: ${deliveredPerSec.toFixed(0)}/s`);
  log(`${label}: parked so far: ${await parkedOf(stack.dispatcherUrl).catch((err) => (err as Error).message)}`);
  return {
    deliveredPerSec,
    perSecOf: (paths) => {
      let delivered = 0;
      let last = 0;
      for (const p of paths) {
        const s = stats.paths[p];
        if (!s) continue;
        delivered += s.ok;
        last = Math.max(last, s.okLast);
      }
      return { delivered, perSec: last > start ? delivered / ((last - start) / 1000) : 0 };
    },
  };
}

interface SingleResult {
  deliveredPerSec: number;
  /** CPU of the whole stack (Waybill, PostgreSQL, Kafka) from the first call until the projection shows every transaction ACCEPTED, per delivered transaction. */
  cpuMsPerTx: number;
  /** The distributed mode: each service's processes' CPU per delivered transaction (ms). */
  serviceCpuMsPerTx?: Record<string, number>;
}

/**
 * One transaction per call, `inFlight` calls at once, over `routes`: delivered/s (first call to
 * last delivery) and the stack's CPU per transaction, counted until the projection has them all.
 */
async function singleThroughput(stack: Stack, receiver: Receiver, routes: Route[], n: number, inFlight: number, acceptedBefore: number): Promise<SingleResult> {
  await receiver.reset();
  log(`single: ${n} transactions, one per call, ${inFlight} calls in flight, over ${routes.length} channels`);
  const cpuBefore = await Promise.all(stack.stackRoots.map((r) => treeCpuMs(r)));
  const servicesBefore = await cpuByService(stack.stackRoots[0]);
  const groupsBefore = await histogramOf(stack.routingUrl, 'waybill_ingest_group_requests');
  const groupTimeBefore = await histogramOf(stack.routingUrl, 'waybill_ingest_group_seconds');
  const { start, end } = await ingestSingle(stack.api, routes, n, inFlight);
  const groups = await histogramOf(stack.routingUrl, 'waybill_ingest_group_requests');
  const groupTime = await histogramOf(stack.routingUrl, 'waybill_ingest_group_seconds');
  const groupCount = groups.count - groupsBefore.count;
  if (groupCount > 0) {
    log(
      `single: ingested in ${((end - start) / 1000).toFixed(1)} s (${(n / ((end - start) / 1000)).toFixed(0)} calls/s) in ${groupCount} group commits ` +
        `of ${((groups.sum - groupsBefore.sum) / groupCount).toFixed(1)} calls and ${((1000 * (groupTime.sum - groupTimeBefore.sum)) / groupCount).toFixed(1)} ms on average`,
    );
  }
  const stats = await waitFor('single deliveries', () => receiver.stats(), (st) => st.delivered >= n, 120_000, (st) => `${st.delivered}/${n} delivered`);
  await waitFor('single ACCEPTED', () => acceptedCount(stack.projectionUrl), (c) => c >= acceptedBefore + n, 120_000, (c) => `${c - acceptedBefore}/${n}`, 500);
  const cpuAfter = await Promise.all(stack.stackRoots.map((r) => treeCpuMs(r)));
  const servicesAfter = await cpuByService(stack.stackRoots[0]);
  const cpuByRoot = cpuAfter.map((c, i) => c - cpuBefore[i]);
  const cpuMs = cpuByRoot.reduce((a, b) => a + b, 0);
  const deliveredPerSec = stats.delivered / ((stats.lastOk - start) / 1000);
  const cpuMsPerTx = cpuMs / stats.delivered;
  const parts = ['Waybill', 'PostgreSQL', 'Kafka'].slice(0, cpuByRoot.length).map((what, i) => `${what} ${(cpuByRoot[i] / stats.delivered).toFixed(2)}`);
  log(`single: ${stats.delivered} delivered (${stats.duplicates} duplicates): ${deliveredPerSec.toFixed(0)}/s; stack CPU ${(cpuMs / 1000).toFixed(1)} s = ${cpuMsPerTx.toFixed(2)} ms per transaction (${parts.join(', ')})`);
  if (servicesAfter.size === 0) return { deliveredPerSec, cpuMsPerTx };
  // A service's instance that restarted meanwhile counts from zero: its share is then a floor.
  const serviceCpuMsPerTx = Object.fromEntries([...servicesAfter].map(([service, ms]) => [service, Math.round((100 * Math.max(0, ms - (servicesBefore.get(service) ?? 0))) / stats.delivered) / 100]));
  log(`single: CPU per transaction by service (ms): ${Object.entries(serviceCpuMsPerTx).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return { deliveredPerSec, cpuMsPerTx, serviceCpuMsPerTx };
}

async function latency(
  stack: Stack,
  receiver: Receiver,
  routes: Route[],
  rate: number,
  seconds: number,
  ingest: Ingest,
): Promise<{ p50: number | null; p99: number | null; callP50: number | null; callP99: number | null; acceptedP99: number | null; acceptedP50: number | null }> {
  await receiver.reset();
  await receiver.record(true);
  // 500 tx/s as 5 transactions every 10 ms (a tick of 1 ms would cost the driver more than
  // Waybill): five single calls at once, or one batch of 5.
  const perTick = 5;
  const tickMs = (1000 * perTick) / rate;
  const ticks = Math.round((seconds * 1000) / tickMs);
  const answered = new Map<string, number>();
  /** When the ingest call that carried each transaction was made. */
  const called = new Map<string, number>();
  const acceptedLatencies: number[] = [];
  const polls: Promise<void>[] = [];
  const start = now();
  let late = 0;
  const inflight: Promise<void>[] = [];
  let sample = 0;
  /** `calledAt` is when the call was due: time a call waited in the driver counts (no coordinated omission). */
  const answer = (id: string, calledAt: number) => {
    const at = now();
    answered.set(id, at);
    called.set(id, calledAt);
    if (sample++ % ACCEPTED_SAMPLE === 0) polls.push(pollAccepted(stack.api, id, at, acceptedLatencies));
  };
  for (let t = 0; t < ticks; t++) {
    const due = start + t * tickMs;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    else if (wait < -tickMs) late++;
    const transactions = Array.from({ length: perTick }, (_, k) => ({ relationshipId: routes[(t * perTick + k) % routes.length].relationshipId, payload }));
    if (ingest === 'single') {
      for (const transaction of transactions) {
        inflight.push(
          (async () => {
            const calledAt = due;
            const body = await must<any>(stack.api.post('/v1/transactions', transaction), 202, 'latency call');
            answer(body.id, calledAt);
          })(),
        );
      }
      continue;
    }
    inflight.push(
      (async () => {
        const calledAt = due;
        const body = await must<any>(stack.api.post('/v1/transactions/batch', { transactions }), 202, 'latency batch');
        for (const d of body.data) if (d.id) answer(d.id, calledAt);
      })(),
    );
  }
  await Promise.all(inflight);
  log(`latency: sent ${answered.size} in ${((now() - start) / 1000).toFixed(1)} s (${late} ticks late)`);
  await waitFor('latency deliveries', () => receiver.stats(), (s) => s.delivered >= answered.size, 60_000, (s) => `${s.delivered}/${answered.size}`);
  await Promise.all(polls);
  const arrivals = await receiver.arrivals();
  await receiver.record(false);
  const lat: number[] = [];
  const fromCall: number[] = [];
  for (const [id, at] of answered) {
    if (arrivals[id] === undefined) continue;
    lat.push(arrivals[id] - at);
    fromCall.push(arrivals[id] - (called.get(id) as number));
  }
  // The answer comes once the events are durably on their way, so a partner may get the delivery
  // before the client has read its answer (a negative figure): the call → partner figures say what
  // a client waits from the moment it sends.
  log(`latency: ingest call → partner p50 ${percentile(fromCall, 0.5)} ms p99 ${percentile(fromCall, 0.99)} ms`);
  if (process.env.BENCH_LATENCY_FILE) {
    // Each transaction's answer time (ms after the phase began) and its ingest→partner latency: where the tail lies in time.
    const rows = [...answered].filter(([id]) => arrivals[id] !== undefined).map(([id, at]) => `${(at - start).toFixed(1)}\t${(arrivals[id] - at).toFixed(1)}`);
    await writeFile(process.env.BENCH_LATENCY_FILE, `answeredMs\tlatencyMs\n${rows.join('\n')}\n`);
  }
  const result = {
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    callP50: percentile(fromCall, 0.5),
    callP99: percentile(fromCall, 0.99),
    acceptedP50: percentile(acceptedLatencies, 0.5),
    acceptedP99: percentile(acceptedLatencies, 0.99),
  };
  log(`latency: ingest→partner p50 ${result.p50} ms p99 ${result.p99} ms (${lat.length} arrivals); ingest→ACCEPTED p50 ${result.acceptedP50} ms p99 ${result.acceptedP99} ms (${acceptedLatencies.length} sampled)`);
  return result;
}

async function pollAccepted(api: ApiClient, id: string, answeredAt: number, out: number[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await api.get(`/v1/transactions/${id}`);
    if (res.status === 200 && res.body?.status === 'ACCEPTED') {
      out.push(now() - answeredAt);
      return;
    }
    await sleep(ACCEPTED_POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const hardLimitMs = opts.quick ? 6 * 60_000 : 30 * 60_000;
  const watchdog = setTimeout(() => {
    log(`the whole run took longer than ${hardLimitMs / 60_000} min: stopping`);
    void cleanup().then(() => process.exit(2));
  }, hardLimitMs);
  watchdog.unref();

  const workDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-bench-'));
  await chmod(workDir, 0o755);
  if (!process.env.BENCH_KEEP) cleanups.push({ what: 'work dir', run: () => rm(workDir, { recursive: true, force: true }) });
  log(`mode ${opts.mode}${opts.quick ? ' (quick)' : ''}: M=${opts.channels} channels, N=${opts.transactions}; work dir ${workDir}`);

  const [receiver, stack] = await Promise.all([Receiver.start(), startStack(opts, workDir)]);
  const org = await must<any>(stack.api.post('/v1/organizations', { name: 'Bench' }), 201, 'organisation');
  const api = stack.api.withKey(org.apiKey);
  const s: Stack = { ...stack, api };

  log(`creating ${opts.channels} channels`);
  const routes = await createChannels(api, receiver.base, opts.channels, 'c', 16);
  const singleRoutes = await createChannels(api, receiver.base, opts.singleChannels, 's', 10, null);
  const concurrency = Math.min(opts.channels * MAX_CONCURRENCY, HEALTHY_BUDGET);

  // 1. raw limit
  const rawPerSec = await rawLimit(receiver, routes, opts.transactions, concurrency);

  // warm-up through Waybill (JIT, connections, topics): 1,000 transactions, not measured
  await receiver.reset();
  log('warm-up: 1000 transactions');
  await ingest(api, routes, 1000);
  await ingestSingle(api, singleRoutes, 500, opts.singleInFlight);
  await waitFor('warm-up', () => receiver.stats(), (st) => st.delivered >= 1500, 60_000, (st) => `${st.delivered}/1500`);
  let acceptedSoFar = 1500;

  const phase = (p: Phase) => opts.phases.has(p);

  // 2. throughput, batches of 500 over 100 channels
  let run2: ThroughputResult | null = null;
  let batchCpuMsPerTx: number | null = null;
  if (phase('throughput')) {
    await receiver.reset();
    await settle(stack.stackRoots);
    await markPhase('throughput', stack.rootPid);
    const batchCpuBefore = await treeCpuMs(...stack.stackRoots);
    run2 = await throughput(s, receiver, routes, opts.transactions, opts.transactions, opts.quick ? 90_000 : 300_000, 'throughput');
    await markPhase('throughput', stack.rootPid);
    acceptedSoFar += opts.transactions;
    const acceptedStart = Date.now();
    const accepted = await waitFor('ACCEPTED', () => acceptedCount(stack.projectionUrl), (c) => c >= acceptedSoFar, 120_000, (c) => `${c}/${acceptedSoFar}`);
    log(`throughput: ${accepted}/${acceptedSoFar} ACCEPTED visible ${((Date.now() - acceptedStart) / 1000).toFixed(1)} s after the last delivery`);
    batchCpuMsPerTx = ((await treeCpuMs(...stack.stackRoots)) - batchCpuBefore) / opts.transactions;
    log(`throughput: stack CPU ${batchCpuMsPerTx.toFixed(2)} ms per transaction`);
  }

  // 3. single calls over 10 channels
  let single: SingleResult | null = null;
  if (phase('single')) {
    await settle(stack.stackRoots);
    await markPhase('single', stack.rootPid);
    single = await singleThroughput(s, receiver, singleRoutes, opts.singleTransactions, opts.singleInFlight, acceptedSoFar);
    await markPhase('single', stack.rootPid);
    if (PHASE === 'single') await reportQueries(opts.singleTransactions);
    acceptedSoFar += opts.singleTransactions;
  }

  // 4. latency
  let lat: Awaited<ReturnType<typeof latency>> | null = null;
  if (phase('latency')) {
    await settle(stack.stackRoots);
    await markPhase('latency', stack.rootPid);
    lat = await latency(s, receiver, routes, opts.latencyRate, opts.latencySeconds, opts.ingest);
    await markPhase('latency', stack.rootPid);
  }

  // 5. isolation (batches, as run 2)
  let isolation: number | null = null;
  if (phase('isolation') && run2) {
    await receiver.reset();
    const hang = routes.slice(0, 10).map((r) => r.path);
    const fail = routes.slice(10, 20).map((r) => r.path);
    const healthy = routes.slice(20).map((r) => r.path);
    await receiver.behaviour(hang, fail);
    const healthyTarget = Math.floor((opts.transactions * healthy.length) / routes.length);
    await markPhase('isolation', stack.rootPid);
    const run4 = await throughput(s, receiver, routes, opts.transactions, healthyTarget, opts.quick ? 90_000 : 300_000, 'isolation');
    await markPhase('isolation', stack.rootPid);
    const before = run2.perSecOf(healthy);
    const after = run4.perSecOf(healthy);
    isolation = before.perSec > 0 ? after.perSec / before.perSec : null;
    // The figure asked for compares the same 80 channels; when Waybill (not the partner) is the
    // limit, run 2 splits its capacity over 100 channels, so up to 1/0.8 = 1.25 is "no harm". This
    // one compares with all of run 2's deliveries instead: ≥ 1 means the sick 20 took nothing away.
    log(`isolation vs run 2's total rate: ${(after.perSec / run2.deliveredPerSec).toFixed(3)}`);
    const st4 = await receiver.stats();
    log(
      `isolation: healthy 80 ${after.delivered} at ${after.perSec.toFixed(0)}/s vs ${before.delivered} at ${before.perSec.toFixed(0)}/s in run 2 → ${isolation?.toFixed(3)}; ` +
        `${st4.hanging} requests hanging, ${fail.reduce((a, p) => a + (st4.paths[p]?.requests ?? 0), 0)} requests answered 500`,
    );
  }

  // 6. footprint
  let dispatcherRssMb: number | null = null;
  if (phase('footprint')) {
    await receiver.reset();
    log(`footprint: creating ${opts.footprintChannels} channels`);
    const fRoutes = await createChannels(api, receiver.base, opts.footprintChannels, 'f', 32);
    await ingest(api, fRoutes, opts.footprintChannels);
    await waitFor('footprint deliveries', () => receiver.stats(), (st) => st.delivered >= opts.footprintChannels, 120_000, (st) => `${st.delivered}/${opts.footprintChannels}`);
    const pid = await stack.dispatcherPid();
    dispatcherRssMb = await rssMb(pid);
    log(`footprint: dispatcher (pid ${pid}) VmRSS ${dispatcherRssMb} MB; ${await memoryOf(stack.dispatcherUrl).catch((err) => `memory not read: ${(err as Error).message}`)}`);
  }

  const round = (v: number | null, d = 0) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);
  const headline = (opts.ingest === 'single' ? single?.deliveredPerSec : run2?.deliveredPerSec) ?? null;
  const result = {
    mode: opts.mode,
    ingest: opts.ingest,
    rawPerSec: round(rawPerSec),
    deliveredPerSec: round(headline),
    ratio: round(headline === null ? null : headline / rawPerSec, 3),
    singleDeliveredPerSec: round(single?.deliveredPerSec ?? null),
    cpuMsPerTx: round(single?.cpuMsPerTx ?? null, 2),
    ...(single?.serviceCpuMsPerTx ? { serviceCpuMsPerTx: single.serviceCpuMsPerTx } : {}),
    batchDeliveredPerSec: round(run2?.deliveredPerSec ?? null),
    batchRatio: round(run2 ? run2.deliveredPerSec / rawPerSec : null, 3),
    batchCpuMsPerTx: round(batchCpuMsPerTx, 2),
    // single: from the call to the partner (what a caller waits); batch: from the answer, as before
    p50Ms: (opts.ingest === 'single' ? lat?.callP50 : lat?.p50) ?? null,
    p99Ms: (opts.ingest === 'single' ? lat?.callP99 : lat?.p99) ?? null,
    acceptedP99Ms: lat?.acceptedP99 ?? null,
    isolation: round(isolation, 3),
    dispatcherRssMb,
  };
  await receiver.close();
  await cleanup();
  log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`failed: ${(err as Error).stack ?? err}`);
    await cleanup();
    process.exit(1);
  },
);
