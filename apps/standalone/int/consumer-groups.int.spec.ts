import { Kafka, logLevel } from 'kafkajs';
import { ConsumerGroups } from '@waybill/messaging';
import { testKafkaBrokers } from '@waybill/testing';
import { startWaybillInProcess, Waybill } from './__fixtures__/waybill';

/**
 * The four services' consumers in one process: their `@EventPattern` handlers share one hybrid app
 * and each keeps its own consumer group, named as before (a renamed group would read its topics
 * again from the start, or lose its checkpoint).
 */
const GROUPS = [
  'waybill.registry.relationship-usage',
  'waybill.routing.redelivery',
  'waybill.routing.channel-deletions',
  'waybill.dispatcher',
  'waybill.dispatcher.alerts',
  'waybill.status-projection.v2',
  'waybill.status-projection.alerts',
  'waybill.status.relationships',
];

describe('the standalone app’s consumer groups', () => {
  let waybill: Waybill;
  let stopped = false;

  beforeAll(async () => {
    waybill = await startWaybillInProcess();
  });

  afterAll(async () => {
    if (!stopped) await waybill?.stop();
  });

  it('runs every service’s groups side by side, each a member of its own group on the broker', async () => {
    const groups = waybill.service.app.get(ConsumerGroups);
    expect(GROUPS.filter((g) => !groups.isRunning(g))).toEqual([]);

    const admin = new Kafka({ clientId: 'consumer-groups-test', brokers: testKafkaBrokers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const onBroker = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      expect(GROUPS.filter((g) => !onBroker.has(`${waybill.namespace}.${g}`))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('stops them with the app: none runs once it has stopped', async () => {
    const groups = waybill.service.app.get(ConsumerGroups);
    stopped = true;
    await waybill.stop();
    expect(GROUPS.filter((g) => groups.isRunning(g))).toEqual([]);
  });
});
