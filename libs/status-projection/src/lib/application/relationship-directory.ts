import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { CATCH_UP_TIMEOUT_MS, Consumed, ConsumerGroups, latestRelationships, RelationshipRef } from '@waybill/messaging';
import { Problems } from '@waybill/platform';
import { STATUS_DB } from './status.database';

/** The status service's consumer group of `waybill.relationships`. */
export const RELATIONSHIPS_GROUP = 'waybill.status.relationships';

/**
 * The status service's replica of `waybill.relationships`: which relationship has which channel
 * (`status.relationships`), kept by its own consumer group. Routing owns relationships; the status
 * service reads them only to refuse, up front, a redelivery that routing could not route.
 */
@Injectable()
export class RelationshipDirectory {
  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    private readonly groups: ConsumerGroups,
  ) {}

  /** A batch read by {@link RELATIONSHIPS_GROUP}: the latest of each relationship, in one transaction. */
  async apply(items: readonly Consumed[]): Promise<void> {
    const { upserts, deleted } = latestRelationships(items);
    await this.db.transaction((em) => apply(em, upserts, deleted));
  }

  /**
   * Why a transaction of `relationshipId` cannot be redelivered now (its relationship is gone or has
   * no channel), or null when it can. Reads `waybill.relationships` up to its end first, so that a
   * relationship deleted or unassigned a moment ago counts; 503 when that cannot be done in time.
   */
  async unroutable(orgId: string, relationshipId: string): Promise<string | null> {
    if (!(await this.groups.catchUp(RELATIONSHIPS_GROUP, CATCH_UP_TIMEOUT_MS))) {
      throw Problems.unavailable('The relationships could not be read in time to decide; try again.', 1);
    }
    const rows: { channel_id: string | null }[] = await this.db.query(
      'SELECT channel_id FROM relationships WHERE relationship_id = $1 AND org_id = $2',
      [relationshipId, orgId],
    );
    if (rows.length === 0) return `Relationship ${relationshipId} of this transaction no longer exists.`;
    if (rows[0].channel_id === null) {
      return `Relationship ${relationshipId} of this transaction has no channel: assign one (PATCH /v1/relationships/${relationshipId}) first.`;
    }
    return null;
  }
}

async function apply(
  em: EntityManager,
  upserts: Map<string, RelationshipRef>,
  deleted: Set<string>,
): Promise<void> {
  if (deleted.size > 0) await em.query('DELETE FROM relationships WHERE relationship_id = ANY($1::text[])', [[...deleted]]);
  if (upserts.size === 0) return;
  const ids = [...upserts.keys()];
  const rows = [...upserts.values()];
  await em.query(
    `INSERT INTO relationships (relationship_id, org_id, channel_id, version)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
     ON CONFLICT (relationship_id) DO UPDATE
       SET org_id = EXCLUDED.org_id, channel_id = EXCLUDED.channel_id, version = EXCLUDED.version
       WHERE relationships.version <= EXCLUDED.version`,
    [ids, rows.map((r) => r.orgId), rows.map((r) => r.channelId), rows.map((r) => r.version)],
  );
}
