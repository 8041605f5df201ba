/**
 * Batch ingestion rate: `POST /v1/transactions/batch` with 500 transactions a call, several calls
 * in flight, against the standalone app (all four services in one process, so delivery and the
 * projection run meanwhile) on a fresh embedded PostgreSQL — or on Kafka when KAFKA_BROKERS is set.
 *
 *   node -r @swc-node/register apps/standalone/bench/batch-ingest.ts [batches=40] [concurrency=4]
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { RegistryService } from '@waybill/channel-registry';
import { startService } from '@waybill/platform';
import { standalone } from '../src/standalone';

async function main(): Promise<void> {
  const batches = Number(process.argv[2] ?? 40);
  const concurrency = Number(process.argv[3] ?? 4);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-bench-'));
  await chmod(dataDir, 0o755);
  const service = await startService(standalone, { ...process.env, PORT: '0', WAYBILL_DATA_DIR: dataDir, LOG_LEVEL: 'error' });
  try {
    const { apiKey } = await service.app.get(RegistryService).createOrganization('Bench');
    const call = async (method: string, p: string, body: unknown) => {
      const res = await request(`${service.url}${p}`, {
        method: method as 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: JSON.parse(text) };
    };
    // A PULL channel: its deliveries wait in the lease queue, so no partner's speed is measured.
    const channel = await call('POST', '/v1/channels', { name: 'Bench', type: 'PULL' });
    const rel = await call('POST', '/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    const batchBody = (n: number) => ({
      transactions: Array.from({ length: 500 }, (_, i) => ({
        relationshipId: rel.body.id,
        idempotencyKey: `bench-${n}-${i}`,
        businessNumber: `PO-${n}-${i}`,
        payload: { purchaseOrderNumber: `PO-${n}-${i}`, lines: [{ sku: 'SKU-1', qty: 2, price: 9.99 }, { sku: 'SKU-2', qty: 1, price: 19.5 }] },
      })),
    });
    await call('POST', '/v1/transactions/batch', batchBody(-1)); // warm-up
    const latencies: number[] = [];
    let accepted = 0;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < batches) {
          const n = next++;
          const t = performance.now();
          const res = await call('POST', '/v1/transactions/batch', batchBody(n));
          latencies.push(performance.now() - t);
          if (res.status !== 202) throw new Error(`batch ${n}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
          accepted += res.body.data.filter((d: { id?: string }) => d.id).length;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(0);
    process.stdout.write(
      `${accepted} transactions in ${batches} batches of 500, ${concurrency} in flight, ${service.config.kafkaBrokers ? 'Kafka' : 'embedded'} transport: ` +
        `${(accepted / seconds).toFixed(0)} transactions/s; per batch p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms\n`,
    );
  } finally {
    await service.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
