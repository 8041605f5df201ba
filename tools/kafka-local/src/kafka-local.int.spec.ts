import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type EachMessagePayload } from 'kafkajs';
import { startKafka, stopKafkaAt, type KafkaLocal } from './index';

/** A cold run fetches the jars with Maven first; a warm start takes a few seconds. */
const START_TIMEOUT_MS = 180_000;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('kafka-local', () => {
  let dataDir: string;
  let kafka: KafkaLocal | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kafka-local-spec-'));
    kafka = await startKafka({ dataDir });
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await kafka?.stop();
    await stopKafkaAt(dataDir); // in case stop() was never reached
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('produces and consumes a message through a real broker', async () => {
    const broker = kafka as KafkaLocal;
    const client = new Kafka({ clientId: 'kafka-local-spec', brokers: broker.brokers, logLevel: logLevel.NOTHING });
    const topic = 'kafka-local-spec';
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = client.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'hello' }] });
    await producer.disconnect();

    const consumer = client.consumer({ groupId: 'kafka-local-spec' });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve, reject) => {
      const eachMessage = ({ message }: EachMessagePayload): Promise<void> => {
        resolve(message.value?.toString() ?? '');
        return Promise.resolve();
      };
      consumer.run({ eachMessage }).catch(reject);
    });
    await consumer.disconnect();

    expect(received).toBe('hello');
  }, 60_000);

  it('stops the broker process', async () => {
    const broker = kafka as KafkaLocal;
    await broker.stop();
    expect(isRunning(broker.pid)).toBe(false);
    expect(await stopKafkaAt(dataDir)).toBe(false); // pid file gone, nothing left to stop
  }, 60_000);
});
