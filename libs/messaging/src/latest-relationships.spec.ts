import type { Consumed } from './event-consumer';
import { latestRelationships } from './latest-relationships';

const upserted = (id: string, version: number, channelId: string | null): Consumed =>
  ({ kind: 'event', event: { type: 'relationship.upserted.v1', data: { id, orgId: 'org_1', channelId, version } }, message: {} }) as unknown as Consumed;
const tombstone = (key: string): Consumed => ({ kind: 'tombstone', key, message: {} }) as unknown as Consumed;

describe('latestRelationships: the latest of each relationship in a batch', () => {
  it('keeps the last upsert of each, and a tombstone after an upsert deletes it', () => {
    const { upserts, deleted } = latestRelationships([upserted('rel_1', 1, 'ch_a'), upserted('rel_1', 2, 'ch_b'), upserted('rel_2', 1, null), tombstone('rel_2')]);
    expect([...upserts]).toEqual([['rel_1', { orgId: 'org_1', channelId: 'ch_b', version: 2 }]]);
    expect([...deleted]).toEqual(['rel_2']);
  });

  it('an upsert after a tombstone brings it back; other events are left alone', () => {
    const other = { kind: 'event', event: { type: 'channel.usage-reported.v1', data: {} }, message: {} } as unknown as Consumed;
    const { upserts, deleted } = latestRelationships([tombstone('rel_1'), other, upserted('rel_1', 3, 'ch_a')]);
    expect([...upserts.keys()]).toEqual(['rel_1']);
    expect(deleted.size).toBe(0);
  });
});
