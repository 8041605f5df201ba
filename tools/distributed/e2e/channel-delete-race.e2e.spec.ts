import { randomBytes } from 'node:crypto';
import {
  ApiClient, describeChannelDeleteRaces, distributedEnv, killStrayWaybillChildren, raceChannelDeletes, startServices, stopWaybill, WaybillProcess,
} from '@waybill/testing';

jest.setTimeout(180_000);

type App = 'channel-registry' | 'relationship-routing';

/**
 * Deleting a channel (the registry's decision) while a relationship is created on it (routing's)
 * in the distributed mode: separate processes on Kafka. Whatever the interleaving, never both: the
 * delete answers 409 or the create answers 4xx, and what is left agrees with the answers.
 */
describe('distributed: deleting a channel while a relationship is created on it', () => {
  let procs: Record<App, WaybillProcess> | undefined;
  let registry: ApiClient;
  let routing: ApiClient;

  beforeAll(async () => {
    const env = await distributedEnv();
    procs = await startServices(env, ['channel-registry', 'relationship-routing']);
    const admin = new ApiClient(procs['channel-registry'].baseUrl, env.WAYBILL_ADMIN_KEY);
    const org = await admin.post('/v1/organizations', { name: `Racer ${randomBytes(3).toString('hex')}` });
    expect(org.status).toBe(201);
    registry = new ApiClient(procs['channel-registry'].baseUrl, org.body.apiKey);
    routing = new ApiClient(procs['relationship-routing'].baseUrl, org.body.apiKey);
  });
  afterAll(async () => {
    if (procs) await Promise.all(Object.values(procs).map((p) => stopWaybill(p)));
    await killStrayWaybillChildren();
  });

  it('never both: of 60 races, each ends with the delete refused (409) or the create refused (4xx), and the state agrees', async () => {
    const result = await raceChannelDeletes(registry, routing, 12);
    process.stderr.write(describeChannelDeleteRaces('distributed (Kafka, two processes)', result));
    for (const race of result.races) {
      expect([204, 409]).toContain(race.deleted);
      expect([201, 404, 409]).toContain(race.created);
      expect({ ...race, both: race.deleted === 204 && race.created === 201 }).toMatchObject({ both: false });
      if (race.deleted === 204) {
        expect(race).toMatchObject({ channelAfter: 404, relationshipsAfter: 0 });
      } else {
        // A refused delete leaves the channel as it was: a relationship can be given it at once.
        expect(race).toMatchObject({ deleteCode: 'CHANNEL_IN_USE', channelAfter: 200, createdAfterRefusal: 201 });
      }
      if (race.created !== 201) expect(['NOT_FOUND', 'CHANNEL_BEING_DELETED']).toContain(race.createCode);
    }
  });
});
