import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ChannelRegistryModule } from '@waybill/channel-registry';
import { DispatcherModule } from '@waybill/dispatcher';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';
import { StatusProjectionModule } from '@waybill/status-projection';
import { RunningService, startService } from '@waybill/platform';
import { ApiClient, createTestDatabase, eventually, testKafkaBrokers, uniqueName } from '@waybill/testing';

export const ADMIN_KEY = 'int-admin-key-0123456789abcdef';

/** All four services in one process, on the test Kafka broker (a namespace of its own) and a new database. */
export interface Waybill {
  service: RunningService;
  url: string;
  admin: ApiClient;
  databaseUrl: string;
  /** A connection to the deployment's database, for looking at the read model as it is. */
  db: Client;
  /** A new organisation: its id and a client with its key. */
  organization(name?: string): Promise<{ id: string; api: ApiClient }>;
  stop(): Promise<void>;
}

export async function startWaybillInProcess(env: Record<string, string> = {}): Promise<Waybill> {
  const databaseUrl = await createTestDatabase();
  const service = await startService(
    { name: 'int', modules: [ChannelRegistryModule, RelationshipRoutingModule, DispatcherModule, StatusProjectionModule], defaultPort: 0 },
    {
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      WAYBILL_KAFKA_NAMESPACE: uniqueName('int'),
      WAYBILL_KAFKA_PARTITIONS: '3',
      WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
      WAYBILL_ADMIN_KEY: ADMIN_KEY,
      PORT: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
  );
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  const admin = new ApiClient(service.url, ADMIN_KEY);
  return {
    service,
    url: service.url,
    admin,
    databaseUrl,
    db,
    organization: async (name = 'Acme') => {
      const org = await admin.post('/v1/organizations', { name });
      if (org.status !== 201) throw new Error(`organisation: ${org.status} ${JSON.stringify(org.body)}`);
      return { id: org.body.id as string, api: new ApiClient(service.url, org.body.apiKey) };
    },
    stop: async () => {
      await db.end().catch(() => undefined);
      await service.stop();
    },
  };
}

/** Creates a channel to `url` and a relationship on it; answers both ids. */
export async function channelWithRelationship(api: ApiClient, url: string, channel: Record<string, unknown> = {}) {
  const ch = await api.post('/v1/channels', { name: `Partner ${uniqueName('')}`, type: 'HTTP', url, ...channel });
  if (ch.status !== 201) throw new Error(`channel: ${ch.status} ${JSON.stringify(ch.body)}`);
  const rel = await api.post('/v1/relationships', { senderId: uniqueName('S'), receiverId: 'GLOBEX', transactionType: '850', channelId: ch.body.id });
  if (rel.status !== 201) throw new Error(`relationship: ${rel.status} ${JSON.stringify(rel.body)}`);
  return { channelId: ch.body.id as string, relationshipId: rel.body.id as string };
}

export async function send(api: ApiClient, relationshipId: string, payload: unknown = { po: 1 }): Promise<string> {
  const tx = await api.post('/v1/transactions', { relationshipId, payload });
  if (tx.status !== 202) throw new Error(`send: ${tx.status} ${JSON.stringify(tx.body)}`);
  return tx.body.id;
}

/** Waits until the transaction shows `status`; answers it as GET shows it. */
export function statusOf(api: ApiClient, id: string, status: string, timeoutMs = 20_000) {
  return eventually(
    async () => (await api.get(`/v1/transactions/${id}`)).body,
    (t) => t?.status === status,
    timeoutMs,
    `transaction ${id} ${status}`,
  );
}

/** Every page of a list, following `nextCursor`. */
export async function allPages(api: ApiClient, path: string, limit = 100): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: { status: number; body: any } = await api.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
    items.push(...res.body.data);
    cursor = res.body.nextCursor;
  } while (cursor);
  return items;
}
