import type { Consumed } from './event-consumer';

/** What the services that keep a replica of `waybill.relationships` hold of a relationship. */
export interface RelationshipRef {
  orgId: string;
  channelId: string | null;
  version: number;
}

/**
 * The latest of each relationship in a batch read from `waybill.relationships`: upserted (with
 * the version a replica's write guards on, so that a replay does not go back) or deleted (a
 * tombstone). Other events of the batch are left to the caller.
 */
export function latestRelationships(items: readonly Consumed[]): { upserts: Map<string, RelationshipRef>; deleted: Set<string> } {
  const upserts = new Map<string, RelationshipRef>();
  const deleted = new Set<string>();
  for (const item of items) {
    if (item.kind === 'tombstone') {
      upserts.delete(item.key);
      deleted.add(item.key);
    } else if (item.event.type === 'relationship.upserted.v1') {
      const r = item.event.data;
      deleted.delete(r.id);
      upserts.set(r.id, { orgId: r.orgId, channelId: r.channelId, version: r.version });
    }
  }
  return { upserts, deleted };
}
