import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ChannelRegistryModule } from '@waybill/channel-registry';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';
import { RunningService, ServiceSpec, startService } from '@waybill/platform';
import { ApiClient, createTestDatabase, testKafkaBrokers, uniqueName } from '@waybill/testing';

/**
 * Services in one process (by default the registry and routing) on the test PostgreSQL (a database
 * of its own) and the test Kafka broker (a namespace of its own): what the integration tests drive.
 */
export interface Harness {
  service: RunningService;
  admin: ApiClient;
  anonymous: ApiClient;
  databaseUrl: string;
  namespace: string;
  db: Client;
  /** A new organisation and a client with its key. */
  organization(name?: string): Promise<{ id: string; api: ApiClient; apiKey: string }>;
  stop(): Promise<void>;
}

export const ADMIN_KEY = 'int-admin-key-0123456789abcdef';

export async function startHarness(
  env: Record<string, string> = {},
  modules: ServiceSpec['modules'] = [ChannelRegistryModule, RelationshipRoutingModule],
): Promise<Harness> {
  const databaseUrl = await createTestDatabase();
  const namespace = uniqueName('int');
  const service = await startService(
    { name: 'int', modules, defaultPort: 0 },
    {
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: testKafkaBrokers().join(','),
      WAYBILL_KAFKA_NAMESPACE: namespace,
      WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
      WAYBILL_ADMIN_KEY: ADMIN_KEY,
      WAYBILL_KAFKA_PARTITIONS: '3',
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
    admin,
    anonymous: new ApiClient(service.url),
    databaseUrl,
    namespace,
    db,
    organization: async (name = 'Acme') => {
      const org = await admin.post('/v1/organizations', { name });
      if (org.status !== 201) throw new Error(`organisation: ${org.status} ${JSON.stringify(org.body)}`);
      return { id: org.body.id, apiKey: org.body.apiKey, api: new ApiClient(service.url, org.body.apiKey) };
    },
    stop: async () => {
      await db.end().catch(() => undefined);
      await service.stop();
    },
  };
}
