import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import {
  ApiClient, ApiResponse, distributedEnv, eventually, freePort, PartnerReceiver, startDistributed, stopWaybill, testKafkaBrokers, WaybillProcess,
} from '@waybill/testing';

jest.setTimeout(120_000);

type App = 'channel-registry' | 'relationship-routing' | 'dispatcher' | 'status-projection';
/** In the order `npm run start:distributed` gives them ports, from WAYBILL_SERVICE_BASE_PORT on. */
const APPS: App[] = ['channel-registry', 'relationship-routing', 'dispatcher', 'status-projection'];

/**
 * The registry and routing as `npm run start:distributed` runs them: four services, four
 * processes, one Kafka broker, the edge in front. Every call goes straight to the service that
 * owns it, right after the call it depends on (made on another one).
 */
describe('distributed: registry and routing across processes', () => {
  let receiver: PartnerReceiver;
  let env: Record<string, string>;
  let waybill: WaybillProcess | undefined;
  const urls = {} as Record<App, string>;
  /** Every answer any service gave in this file, as text. */
  const answers: string[] = [];
  const client = (app: App, key?: string) => new RecordingClient(urls[app], key, answers);

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'waybill-dist-rr-'));
    await chmod(dataDir, 0o755);
    const ports = await Promise.all(APPS.map(() => freePort()));
    APPS.forEach((app, i) => (urls[app] = `http://127.0.0.1:${ports[i]}`));
    env = { ...(await distributedEnv()), LOG_LEVEL: 'debug', WAYBILL_DATA_DIR: dataDir, WAYBILL_SERVICE_PORTS: ports.join(',') };
    waybill = await startDistributed({ ...env, PORT: String(await freePort()) });
  });
  afterAll(async () => {
    await stopWaybill(waybill);
    await receiver?.stop();
  });

  const organization = async () => {
    const org = await client('channel-registry', env.WAYBILL_ADMIN_KEY).post('/v1/organizations', { name: `Org ${randomBytes(3).toString('hex')}` });
    expect(org.status).toBe(201);
    return org.body.apiKey as string;
  };

  it('reads its writes: key → channel → default → relationship → transaction → read, each at once on another service', async () => {
    const first = await organization();
    const key = (await client('channel-registry', first).post('/v1/api-keys')).body.apiKey;
    const registry = client('channel-registry', key);
    const routing = client('relationship-routing', key);
    const status = client('status-projection', key);
    expect((await routing.get('/v1/relationships')).status).toBe(200); // the new key, on another service

    const channel = await registry.post('/v1/channels', {
      name: 'Acme ERP',
      url: receiver.url('/ryw'),
      auth: { type: 'BASIC', username: 'acme', password: 'ryw-basic-password' },
      signing: { enabled: true },
    });
    expect(channel.status).toBe(201);
    const explicit = await routing.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', channelId: channel.body.id });
    expect(explicit.status).toBe(201);

    expect((await registry.put('/v1/settings/default-inbound-channel', { channelId: channel.body.id })).status).toBe(200);
    const byDefault = await routing.post('/v1/relationships', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '810' });
    expect(byDefault.body).toMatchObject({ channelId: channel.body.id, channelSource: 'DEFAULT' });

    const tx = await routing.post('/v1/transactions', { senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '810', payload: { invoice: 'INV-1' } });
    expect(tx.status).toBe(202);
    const read = await status.get(`/v1/transactions/${tx.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.id).toBe(tx.body.id);

    const [delivered] = await receiver.waitFor(1, (r) => r.path === '/ryw');
    expect(delivered.headers.authorization).toBe(`Basic ${Buffer.from('acme:ryw-basic-password').toString('base64')}`);
    expect(delivered.headers['webhook-signature']).toMatch(/^v1,/);

    // Routing lets go of the channel; the registry sees it at once and lets it be deleted.
    await registry.put('/v1/settings/default-inbound-channel', { channelId: null });
    expect((await registry.delete(`/v1/channels/${channel.body.id}`)).status).toBe(409);
    for (const rel of [explicit.body, byDefault.body]) expect((await routing.delete(`/v1/relationships/${rel.id}`)).status).toBe(204);
    expect((await registry.delete(`/v1/channels/${channel.body.id}`)).status).toBe(204);
    expect((await routing.post('/v1/relationships', { senderId: 'A', receiverId: 'B', transactionType: 'C', channelId: channel.body.id })).status).toBe(404);
  });

  it('a revoked key stops working on every service within a second', async () => {
    const owner = await organization();
    const issued = (await client('channel-registry', owner).post('/v1/api-keys')).body;
    const probes: Record<App, string> = {
      'channel-registry': '/v1/channels',
      'relationship-routing': '/v1/relationships',
      'status-projection': '/v1/transactions',
      dispatcher: '/v1/channels/ch_none/health',
    };
    for (const app of Object.keys(probes) as App[]) expect((await client(app, issued.apiKey).get(probes[app])).status).not.toBe(401);
    const revokedAt = Date.now();
    expect((await client('channel-registry', owner).delete(`/v1/api-keys/${issued.id}`)).status).toBe(204);
    await Promise.all(
      (Object.keys(probes) as App[]).map((app) =>
        eventually(() => client(app, issued.apiKey).get(probes[app]), (r) => r.status === 401, 1_000, `${app} refuses the revoked key`),
      ),
    );
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });

  it('each service documents its own endpoints at /openapi.json and serves /docs', async () => {
    const paths = async (app: App) => Object.keys((await client(app).get('/openapi.json')).body.paths);
    expect(await paths('channel-registry')).toEqual(expect.arrayContaining(['/v1/channels', '/v1/channels/{id}/signing-secret/rotate', '/v1/settings/alert-channel']));
    expect(await paths('relationship-routing')).toEqual(expect.arrayContaining(['/v1/relationships/{id}', '/v1/transactions', '/v1/transactions/batch']));
    expect(await paths('relationship-routing')).not.toContain('/v1/channels');

    // The edge composes the four into one document; /docs (served by the registry) reads it.
    const atEdge = new ApiClient(waybill!.baseUrl);
    const whole = Object.keys((await atEdge.get('/openapi.json')).body.paths);
    expect(whole).toEqual(expect.arrayContaining(['/v1/channels', '/v1/relationships', '/v1/transactions/batch', '/v1/transactions/{id}']));
    const docs = await atEdge.get('/docs');
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain('swagger-ui-bundle.js');
    expect((await atEdge.get('/docs/swagger-ui-bundle.js')).status).toBe(200);
  });

  it('no credential is in clear in any answer, log line or Kafka message; the signing secret only in its answers', async () => {
    const key = await organization();
    const registry = client('channel-registry', key);
    const secrets = {
      password: `pw-${randomBytes(12).toString('hex')}`,
      token: `tok-${randomBytes(12).toString('hex')}`,
      clientSecret: `cs-${randomBytes(12).toString('hex')}`,
    };
    const basic = await registry.post('/v1/channels', {
      name: 'Basic', url: receiver.url('/secret'), auth: { type: 'BASIC', username: 'u', password: secrets.password }, signing: { enabled: true },
    });
    const bearer = await registry.post('/v1/channels', { name: 'Bearer', url: receiver.url('/secret'), auth: { type: 'BEARER', token: secrets.token } });
    const oauth = await registry.post('/v1/channels', {
      name: 'OAuth', url: receiver.url('/secret'),
      auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: receiver.url('/token'), clientId: 'c', clientSecret: secrets.clientSecret },
    });
    const patched = await registry.patch(`/v1/channels/${bearer.body.id}`, { auth: { type: 'BEARER', token: `${secrets.token}-2` } });
    const rotated = await registry.post(`/v1/channels/${basic.body.id}/signing-secret/rotate`);
    const signing = [basic.body.signing.secret, rotated.body.secret];
    expect([basic.status, bearer.status, oauth.status, patched.status, rotated.status]).toEqual([201, 201, 201, 200, 200]);

    // Deliveries make the dispatcher open the credentials: its logs are searched too.
    const rel = await client('relationship-routing', key).post('/v1/relationships', { senderId: 'S', receiverId: 'R', transactionType: '1', channelId: basic.body.id });
    await client('relationship-routing', key).post('/v1/transactions', { relationshipId: rel.body.id, payload: { n: 1 } });
    const [delivered] = await receiver.waitFor(1, (r) => r.path === '/secret');
    expect(delivered.headers.authorization).toContain(Buffer.from(`u:${secrets.password}`).toString('base64'));
    expect(String(delivered.headers['webhook-signature']).split(' ')).toHaveLength(2); // both secrets sign during the overlap

    const kafka = await rawKafkaMessages(env.WAYBILL_KAFKA_NAMESPACE);
    expect(kafka.length).toBeGreaterThan(10);
    const logs = waybill!.output();
    expect(logs).toContain('channel created'); // the logs are there to search
    const everywhere = { answers: answers.join('\n'), logs, kafka: kafka.join('\n') };
    for (const [where, text] of Object.entries(everywhere)) {
      for (const [name, secret] of Object.entries({ ...secrets, patchedToken: `${secrets.token}-2` })) {
        expect({ where, name, found: text.includes(secret) }).toEqual({ where, name, found: false });
      }
    }
    for (const secret of signing) {
      expect(logs.includes(secret)).toBe(false);
      expect(kafka.some((m) => m.includes(secret))).toBe(false);
      expect(answers.filter((a) => a.includes(secret)).length).toBeGreaterThanOrEqual(1);
    }
    expect(kafka.some((m) => m.includes('enc:v1:'))).toBe(true); // they travel sealed
  });
});

/** An ApiClient that keeps every answer's body. */
class RecordingClient extends ApiClient {
  constructor(baseUrl: string, key: string | undefined, private readonly sink: string[]) {
    super(baseUrl, key);
  }
  override async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await super.call<T>(method, path, body, headers);
    if (!path.startsWith('/docs')) this.sink.push(typeof res.body === 'string' ? res.body : JSON.stringify(res.body));
    return res;
  }
}

/** Every message on every topic of the deployment, key and value as text, read from the beginning. */
async function rawKafkaMessages(namespace: string): Promise<string[]> {
  const kafka = new Kafka({ brokers: testKafkaBrokers(), clientId: 'secrets-reader', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${namespace}.`));
  let expected = 0;
  for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) expected += Number(p.high) - Number(p.low);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `secrets-reader-${randomBytes(4).toString('hex')}` });
  const seen: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      seen.push(`${message.key?.toString() ?? ''} ${message.value?.toString() ?? ''} ${JSON.stringify(message.headers ?? {})}`);
    },
  });
  await eventually(async () => seen.length, (n) => n >= expected, 30_000, `reading ${expected} messages`);
  await consumer.disconnect();
  return seen;
}
