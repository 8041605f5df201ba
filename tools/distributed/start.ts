/**
 * The distributed mode on one machine, in one command (`npm run start:distributed`): a real Kafka
 * broker (tools/kafka-local) unless KAFKA_BROKERS is set, PostgreSQL (embedded) unless
 * DATABASE_URL is set, the four services as processes — as many of each as `WAYBILL_INSTANCES`
 * says (`dispatcher=3,status-projection=2`; one each by default), an instance that dies started
 * again — and the edge router on PORT (3000) serving the public API on one origin, balancing each
 * service's routes over its live instances. Ctrl-C stops everything, in order.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startKafka } from '@waybill/kafka-local';
import { startEmbeddedPostgres } from '@waybill/persistence';
import { SecretBox } from '@waybill/security';
import { Edge, startEdge, Upstreams } from '@waybill/edge';
import { Cluster } from './cluster';
import { parseInstances, SERVICES } from './instances';

const ROOT = path.resolve(__dirname, '../..');

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

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.WAYBILL_DATA_DIR ?? path.join(ROOT, '.waybill', 'distributed'));
  // Others may pass through (not list): PostgreSQL's own user must reach its cluster below, when
  // Waybill runs as root. What is secret inside (the secret key) is 0600 on its own.
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  const counts = parseInstances(process.env.WAYBILL_INSTANCES);
  const edgePort = Number(process.env.PORT ?? 3000);
  // The first instances listen on WAYBILL_SERVICE_PORTS (in SERVICES' order), else on the ports
  // after the edge's; instances beyond those take free ports.
  const base = Number(process.env.WAYBILL_SERVICE_BASE_PORT ?? edgePort + 1);
  const total = SERVICES.reduce((n, s) => n + counts[s], 0);
  const ports = process.env.WAYBILL_SERVICE_PORTS?.split(',').map(Number) ?? Array.from({ length: total }, (_, i) => base + i);
  if (ports.some((p) => !Number.isInteger(p) || p <= 0)) throw new Error('WAYBILL_SERVICE_PORTS must list ports');
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

  let edge: Edge | null = null;
  const cluster = new Cluster({
    env: { KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl, WAYBILL_SECRET_KEY: secretKey, WAYBILL_ADMIN_KEY: adminKey },
    counts,
    ports,
    restart: true,
    log: say,
    onChange: (service, urls) => edge?.setUpstreams(service, urls),
  });
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('stopping…');
      await cluster.stop();
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    await cluster.start();
  } catch (err) {
    say(`a service could not start: ${(err as Error).message}`);
    return stopAll(1);
  }
  const upstreams = Object.fromEntries(SERVICES.map((s) => [s, cluster.urls(s)])) as unknown as Upstreams;
  edge = await startEdge(edgePort, upstreams, process.env.HOST ?? '127.0.0.1');
  const started = edge;
  cleanups.unshift(() => new Promise((r) => started.close(r)));
  const shape = SERVICES.map((s) => `${s}×${counts[s]}`).join(', ');
  say(`Waybill (distributed: ${shape}) is serving on http://127.0.0.1:${edgePort} — Kafka ${brokers}`);
  say(`admin key (for POST /v1/organizations): kept in ${path.join(dataDir, 'admin.key')}`);
}

main().catch((err) => {
  process.stderr.write(`[distributed] could not start: ${(err as Error).stack}\n`);
  process.exit(1);
});
