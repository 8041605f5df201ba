import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { partitionOf } from './partitioner';

/**
 * The embedded log places a key on a partition with `partitionOf`; the Kafka producer uses
 * kafkajs's own DefaultPartitioner (murmur2, made positive, modulo the partition count). Both must
 * agree, so a key lands on the same partition whichever transport carries it.
 */
describe('partitionOf', () => {
  function kafkajsChoice(key: string, partitions: number): number {
    const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
  }

  const partitionCounts = fc.integer({ min: 1, max: 64 });

  it('agrees with kafkajs for random keys of any length and alphabet', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.uuid()), partitionCounts, (key, n) => {
        expect(partitionOf(key, n)).toBe(kafkajsChoice(key, n));
      }),
      { numRuns: 5_000 },
    );
  });

  it('agrees with kafkajs for the lengths around every murmur2 tail case', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', minLength: 0, maxLength: 9 }), partitionCounts, (key, n) => {
        expect(partitionOf(key, n)).toBe(kafkajsChoice(key, n));
      }),
      { numRuns: 2_000 },
    );
  });

  it('agrees with kafkajs on the partition counts the project uses, and stays in range', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }), fc.constantFrom(1, 3, 12), (key, n) => {
        const p = partitionOf(key, n);
        expect(p).toBe(kafkajsChoice(key, n));
        expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('matches the murmur2 values of the Java client (Kafka UtilsTest.testMurmur2)', () => {
    const javaMurmur2: Record<string, number> = {
      '21': -973932308,
      foobar: -790332482,
      'a-little-bit-long-string': -985981536,
      'a-little-bit-longer-string': -1486304829,
      lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8: -58897971,
      abc: 479470107,
    };
    for (const [key, hash] of Object.entries(javaMurmur2)) {
      for (const n of [1, 3, 12, 1000]) {
        expect(partitionOf(key, n)).toBe((hash & 0x7fffffff) % n);
        expect(kafkajsChoice(key, n)).toBe((hash & 0x7fffffff) % n);
      }
    }
  });
});
