import { TOPIC_SPECS, Topics } from '@waybill/contracts';
import { createTestDatabase, OwnKafka, startOwnKafka, uniqueName } from '@waybill/testing';
import { silentLog } from '../logger';
import { pollUntil } from '../wait';
import { KafkaTransport } from './kafka.transport';

jest.setTimeout(180_000);

const SESSION_MS = 6_000;

/**
 * A member of a consumer group owns its partitions only while the group may still count it in:
 * the dispatcher's lanes live by it (`onAssignment`). With a broker of its own, killed and started
 * again: the member gives its partitions up before its session could have run out — a restarted
 * broker hands them all to the first member back — and takes them up again when it rejoins.
 */
describe('Kafka membership (a broker killed and started again)', () => {
  let broker: OwnKafka;
  beforeAll(async () => {
    broker = await startOwnKafka();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('gives its partitions up within a session of the broker going silent, and has them again once it is back', async () => {
    const transport = await KafkaTransport.open({
      brokers: broker.brokers,
      clientId: 'membership',
      databaseUrl: await createTestDatabase(),
      namespace: uniqueName('ns'),
      partitions: 3,
      sessionTimeoutMs: SESSION_MS,
      log: silentLog,
    });
    try {
      await transport.ensureTopics(TOPIC_SPECS);
      const told: Array<{ at: number; partitions: number[] }> = [];
      const sub = await transport.subscribe({
        group: 'membership',
        topics: [Topics.deliveries],
        onAssignment: (a) => told.push({ at: Date.now(), partitions: a[Topics.deliveries] ?? [] }),
        handle: async () => undefined,
      });
      const owns = () => (told[told.length - 1]?.partitions.length ?? 0) === 3;
      expect(await pollUntil(async () => owns(), 30_000, 50)).toBe(true);

      const killedAt = Date.now();
      broker.kill();
      expect(await pollUntil(async () => !owns(), SESSION_MS, 50)).toBe(true);
      expect(told[told.length - 1].at - killedAt).toBeLessThan(SESSION_MS);

      await broker.restart();
      expect(await pollUntil(async () => owns(), 60_000, 100)).toBe(true);
      await sub.stop();
    } finally {
      await transport.close();
    }
  });
});
