/**
 * The distributed mode on one machine, in one command (`npm run start:distributed`): a real Kafka
 * broker (tools/kafka-local) unless KAFKA_BROKERS is set, PostgreSQL (embedded) unless
 * DATABASE_URL is set, the four services as four processes, and the edge router on PORT (3000)
 * serving the public API on one origin. Ctrl-C stops everything, in order.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from 'undici';
import { startKafka } from '@waybill/kafka-local';
import { startEmbeddedPostgres } from '@waybill/persistence';
import { SecretBox } from '@waybill/security';
import type { ServiceName } from '@waybill/platform';
import { startEdge, Upstreams } from '@waybill/edge';

const ROOT = path.resolve(__dirname, '../..');
const SERVICES: ServiceName[] = ['channel-registry', 'relationship-routing', 'dispatcher', 'status-projection'];

/**
 * The dispatcher's heap ceiling (MB). Its live heap is about 100 MB with 10,000 active channels
 * (`npm run bench`, heap snapshot after the footprint phase), but under load V8 lets the heap grow
 * to several times what is live before it collects: with no ceiling its RSS reached 400–600 MB.
 * The ceiling makes it collect sooner. NODE_OPTIONS, when it sets one, wins.
 */
const DISPATCHER_HEAP_MB = 256;

function nodeFlags(service: ServiceName): string[] {
  if (service !== 'dispatcher' || process.env.NODE_OPTIONS?.includes('--max-old-space-size')) return [];
  return [`--max-old-space-size=${DISPATCHER_HEAP_MB}`];
}

function say(line: string): void {
  process.stdout.write(`[distributed] ${line}\n`);
}

async function loadOrCreate(file: string, make: () => string): Promise<{ value: string; created: boolean }> {
  try {
    return { value: (await readFile(file, 'utf8')).trim(), created: false };
  } catch {
    const value = make();
    await writeFile(file, `${value}\n`, { mode: 0o600 });
    return { value, created: true };
  }
}

async function waitReady(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before it was ready (${child.exitCode ?? child.signalCode})`);
    try {
      const res = await request(`${url}/health/ready`);
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready after ${timeoutMs} ms`);
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.WAYBILL_DATA_DIR ?? path.join(ROOT, '.waybill', 'distributed'));
  // Others may pass through (not list): PostgreSQL's own user must reach its cluster below, when
    // Waybill runs as root. What is secret inside (the secret key) is 0600 on its own.
    await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const edgePort = Number(process.env.PORT ?? 3000);
  // The services listen on WAYBILL_SERVICE_PORTS (four ports, in SERVICES' order), else on the four
  // ports after the edge's.
  const base = Number(process.env.WAYBILL_SERVICE_BASE_PORT ?? edgePort + 1);
  const servicePorts = process.env.WAYBILL_SERVICE_PORTS?.split(',').map(Number) ?? SERVICES.map((_, i) => base + i);
  if (servicePorts.length !== SERVICES.length || servicePorts.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new Error(`WAYBILL_SERVICE_PORTS must list ${SERVICES.length} ports`);
  }
  const cleanups: Array<() => Promise<unknown>> = [];

  let brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    say('starting Kafka (tools/kafka-local)…');
    const kafka = await startKafka({ dataDir: path.join(dataDir, 'kafka') });
    brokers = kafka.brokers.join(',');
    cleanups.push(() => kafka.stop());
  }
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres') });
    databaseUrl = pg.url;
    cleanups.push(() => pg.stop());
  }
  const secretKey = process.env.WAYBILL_SECRET_KEY ?? (await loadOrCreate(path.join(dataDir, 'secret.key'), SecretBox.generateKey)).value;
  const adminKey =
    process.env.WAYBILL_ADMIN_KEY ?? (await loadOrCreate(path.join(dataDir, 'admin.key'), () => `wba_${randomBytes(24).toString('base64url')}`)).value;

  const children = new Map<ServiceName, ChildProcess>();
  const upstreams = {} as Upstreams;
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('stopping…');
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
            }),
        ),
      );
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  SERVICES.forEach((name, i) => {
    const port = servicePorts[i];
    upstreams[name] = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [...nodeFlags(name), '-r', '@swc-node/register', path.join(ROOT, 'apps', name, 'src', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        KAFKA_BROKERS: brokers,
        DATABASE_URL: databaseUrl,
        WAYBILL_SECRET_KEY: secretKey,
        WAYBILL_ADMIN_KEY: adminKey,
        WAYBILL_EXIT_WITH_PARENT: '1',
      },
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    child.on('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited (${code ?? signal}); stopping the rest`);
        void stopAll(1);
      }
    });
    children.set(name, child);
  });
  try {
    await Promise.all(SERVICES.map((name) => waitReady(upstreams[name], children.get(name) as ChildProcess)));
  } catch (err) {
    say(`a service could not start: ${(err as Error).message}`);
    return stopAll(1);
  }
  const edge = await startEdge(edgePort, upstreams, process.env.HOST ?? '127.0.0.1');
  cleanups.unshift(() => new Promise((r) => edge.close(r)));
  say(`Waybill (distributed) is serving on http://127.0.0.1:${edgePort} — Kafka ${brokers}`);
  say(`admin key (for POST /v1/organizations): kept in ${path.join(dataDir, 'admin.key')}`);
}

main().catch((err) => {
  process.stderr.write(`[distributed] could not start: ${(err as Error).stack}\n`);
  process.exit(1);
});
