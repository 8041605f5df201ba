import { subscriptionOf } from './consumer-options';

describe('subscriptionOf: an @EventPattern(group, options) as the subscription it stands for', () => {
  const kafka = { kind: 'kafka', partitions: 12 } as const;
  const embedded = { kind: 'embedded', partitions: 12 } as const;

  it('names the group by the pattern and copies what the options say', () => {
    expect(subscriptionOf('waybill.x', { topics: ['waybill.alerts'], types: ['delivery.exhausted.v1'], fromBeginning: false, lingerMs: 20 }, kafka)).toEqual({
      group: 'waybill.x',
      topics: ['waybill.alerts'],
      types: ['delivery.exhausted.v1'],
      fromBeginning: false,
      partitionsConcurrently: undefined,
      maxBatch: undefined,
      lingerMs: 20,
    });
  });

  it("reads partitionsConcurrently 'all' as the transport's partitions", () => {
    expect(subscriptionOf('g', { topics: ['t'], partitionsConcurrently: 'all' }, kafka).partitionsConcurrently).toBe(12);
    expect(subscriptionOf('g', { topics: ['t'], partitionsConcurrently: 3 }, kafka).partitionsConcurrently).toBe(3);
  });

  it('takes a maxBatch per adapter, the adapter left out keeping its default', () => {
    expect(subscriptionOf('g', { topics: ['t'], maxBatch: { kafka: 250 } }, kafka).maxBatch).toBe(250);
    expect(subscriptionOf('g', { topics: ['t'], maxBatch: { kafka: 250 } }, embedded).maxBatch).toBeUndefined();
    expect(subscriptionOf('g', { topics: ['t'], maxBatch: 2_000 }, embedded).maxBatch).toBe(2_000);
  });

  it('refuses a pattern without topics, or an empty group, saying how to declare one', () => {
    expect(() => subscriptionOf('g', undefined as never, kafka)).toThrow("@EventPattern('g'): give the topics the group reads");
    expect(() => subscriptionOf('g', { topics: [] }, kafka)).toThrow("@EventPattern('g'): give the topics the group reads");
    expect(() => subscriptionOf('', { topics: ['t'] }, kafka)).toThrow('the pattern names the consumer group');
  });
});
