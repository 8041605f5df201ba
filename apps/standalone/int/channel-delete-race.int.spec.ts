import { randomBytes } from 'node:crypto';
import { ChannelRegistryModule } from '@waybill/channel-registry';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';
import { RunningService, startService } from '@waybill/platform';
import { ApiClient, createTestDatabase, describeChannelDeleteRaces, raceChannelDeletes } from '@waybill/testing';
import { ADMIN_KEY } from './__fixtures__/harness';

jest.setTimeout(120_000);

/**
 * Deleting a channel while a relationship is created on it, in the embedded mode (the embedded
 * log in PostgreSQL as the messaging port, registry and routing in one process): never both.
 */
describe('embedded: deleting a channel while a relationship is created on it', () => {
  let service: RunningService;
  let api: ApiClient;

  beforeAll(async () => {
    service = await startService(
      { name: 'int-embedded', modules: [ChannelRegistryModule, RelationshipRoutingModule], defaultPort: 0, embeddedTransport: true },
      {
        DATABASE_URL: await createTestDatabase(),
        WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
        WAYBILL_ADMIN_KEY: ADMIN_KEY,
        WAYBILL_KAFKA_PARTITIONS: '3',
        PORT: '0',
        LOG_LEVEL: 'warn',
      },
    );
    const org = await new ApiClient(service.url, ADMIN_KEY).post('/v1/organizations', { name: 'Racer' });
    expect(org.status).toBe(201);
    api = new ApiClient(service.url, org.body.apiKey);
  });
  afterAll(() => service?.stop());

  it('never both: of 40 races, each ends with the delete refused (409) or the create refused (4xx), and the state agrees', async () => {
    const result = await raceChannelDeletes(api, api, 8);
    process.stderr.write(describeChannelDeleteRaces('embedded', result));
    for (const race of result.races) {
      expect([204, 409]).toContain(race.deleted);
      expect([201, 404, 409]).toContain(race.created);
      expect({ ...race, both: race.deleted === 204 && race.created === 201 }).toMatchObject({ both: false });
      if (race.deleted === 204) expect(race).toMatchObject({ channelAfter: 404, relationshipsAfter: 0 });
      // A refused delete leaves the channel as it was: a relationship can be given it at once.
      else expect(race).toMatchObject({ deleteCode: 'CHANNEL_IN_USE', channelAfter: 200, createdAfterRefusal: 201 });
    }
  });
});
