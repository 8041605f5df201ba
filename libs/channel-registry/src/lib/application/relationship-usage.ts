import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { setTimeout as delay } from 'node:timers/promises';
import { CATCH_UP_TIMEOUT_MS, Consumed, ConsumerGroups, latestRelationships, RelationshipRef } from '@waybill/messaging';
import { Problems } from '@waybill/platform';
import { REGISTRY_DB } from './registry.database';

/** The registry's consumer group of `waybill.relationships`. */
export const RELATIONSHIP_USAGE_GROUP = 'waybill.registry.relationship-usage';

/** Routing's count of a channel's relationships, taken for one delete (`channel.usage-reported.v1`). */
export interface UsageReport {
  count: number;
  relationshipIds: string[];
}

/**
 * The registry's replica of `waybill.relationships`: which relationship uses which channel
 * (`relationship_usage`), kept by a consumer group so that it survives restarts, and routing's
 * answers to deletes (`channel_usage_reports`). Routing owns the relationships; the registry needs
 * them only to refuse deleting a channel still in use.
 */
@Injectable()
export class RelationshipUsage {
  /** Deletes in this process waiting for routing's report, by `channelId:requestId`. */
  private readonly waiting = new Map<string, () => void>();

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    private readonly groups: ConsumerGroups,
  ) {}

  /** A batch read by {@link RELATIONSHIP_USAGE_GROUP}: the usage replica and routing's reports, in one transaction. */
  async apply(items: readonly Consumed[]): Promise<void> {
    const { upserts, deleted } = latestRelationships(items);
    const reports: Array<{ channelId: string; requestId: string; count: number; relationshipIds: string[] }> = [];
    for (const item of items) if (item.kind === 'event' && item.event.type === 'channel.usage-reported.v1') reports.push(item.event.data);
    await this.db.transaction(async (em) => {
      await apply(em, upserts, deleted);
      if (reports.length > 0) {
        // Only the answer a delete is waiting for (its channel still marked by that request):
        // a replay of the topic brings back every old report, which nothing needs.
        await em.query(
          `INSERT INTO channel_usage_reports (channel_id, request_id, count, relationship_ids)
           SELECT r."channelId", r."requestId", r.count, r."relationshipIds"
             FROM json_to_recordset($1::json) AS r("channelId" text, "requestId" text, count int, "relationshipIds" jsonb)
             JOIN channels c ON c.id = r."channelId" AND c.state->'deleting'->>'requestId' = r."requestId"
           ON CONFLICT DO NOTHING`,
          [JSON.stringify(reports)],
        );
      }
    });
    for (const r of reports) this.waiting.get(`${r.channelId}:${r.requestId}`)?.();
  }

  /**
   * Reads `waybill.relationships` up to its current end before a decision that depends on it: a
   * relationship created (or moved) a moment ago through routing is counted. Answers 503 rather
   * than decide on a replica that cannot catch up.
   */
  async catchUp(): Promise<void> {
    if (!this.groups.isRunning(RELATIONSHIP_USAGE_GROUP)) throw new Error('relationship usage not started');
    if (!(await this.groups.catchUp(RELATIONSHIP_USAGE_GROUP, CATCH_UP_TIMEOUT_MS))) {
      throw Problems.unavailable('The relationships could not be read in time to decide; try again.', 1);
    }
  }

  /**
   * Routing's report for the delete `requestId` of `channelId`, once it has been read (by this
   * instance's consumer or another's), or null when none came within `timeoutMs`.
   */
  async report(channelId: string, requestId: string, timeoutMs: number): Promise<UsageReport | null> {
    const deadline = Date.now() + timeoutMs;
    const key = `${channelId}:${requestId}`;
    let pause = 10;
    try {
      for (;;) {
        const arrived = new Promise<void>((resolve) => this.waiting.set(key, resolve));
        const rows: { count: number; relationship_ids: string[] }[] = await this.db.query(
          'SELECT count, relationship_ids FROM channel_usage_reports WHERE channel_id = $1 AND request_id = $2',
          [channelId, requestId],
        );
        if (rows[0]) return { count: rows[0].count, relationshipIds: rows[0].relationship_ids };
        const left = deadline - Date.now();
        if (left <= 0) return null;
        // Another instance's consumer may hold the partition: read up to the end, else wait a little.
        await Promise.race([arrived, this.groups.catchUp(RELATIONSHIP_USAGE_GROUP, Math.min(left, CATCH_UP_TIMEOUT_MS)).then(() => delay(Math.min(pause, left)))]);
        pause = Math.min(pause * 2, 100);
      }
    } finally {
      this.waiting.delete(key);
    }
  }

  /** Forgets the reports of a channel's deletes (once it is deleted, or its delete refused). */
  async forgetReports(em: EntityManager, channelId: string): Promise<void> {
    await em.query('DELETE FROM channel_usage_reports WHERE channel_id = $1', [channelId]);
  }

  /** The relationships that use `channelId` (a few of their ids, and how many), in the caller's transaction. */
  async usersOf(em: EntityManager, orgId: string, channelId: string): Promise<{ ids: string[]; count: number }> {
    const rows: { id: string; count: number }[] = await em.query(
      `SELECT relationship_id AS id, count(*) OVER ()::int AS count FROM relationship_usage
        WHERE org_id = $1 AND channel_id = $2 ORDER BY relationship_id LIMIT 5`,
      [orgId, channelId],
    );
    return { ids: rows.map((r) => r.id), count: rows[0]?.count ?? 0 };
  }
}

async function apply(
  em: EntityManager,
  upserts: Map<string, RelationshipRef>,
  deleted: Set<string>,
): Promise<void> {
  if (deleted.size > 0) await em.query('DELETE FROM relationship_usage WHERE relationship_id = ANY($1::text[])', [[...deleted]]);
  if (upserts.size === 0) return;
  const ids = [...upserts.keys()];
  const rows = [...upserts.values()];
  await em.query(
    `INSERT INTO relationship_usage (relationship_id, org_id, channel_id, version)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])
     ON CONFLICT (relationship_id) DO UPDATE
       SET org_id = EXCLUDED.org_id, channel_id = EXCLUDED.channel_id, version = EXCLUDED.version
       WHERE relationship_usage.version <= EXCLUDED.version`,
    [ids, rows.map((r) => r.orgId), rows.map((r) => r.channelId), rows.map((r) => r.version)],
  );
}
