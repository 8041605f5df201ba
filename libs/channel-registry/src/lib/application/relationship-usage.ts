import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { Topics } from '@waybill/contracts';
import { CATCH_UP_TIMEOUT_MS, EventConsumer, MessageTransport } from '@waybill/messaging';
import { LOGGER, Problems, TRANSPORT } from '@waybill/platform';
import { REGISTRY_DB } from '../adapters/db/tokens';

const GROUP = 'waybill.registry.relationship-usage';

/**
 * The registry's replica of `waybill.relationships`: which relationship uses which channel
 * (`relationship_usage`), kept by a consumer group so that it survives restarts. Routing owns the
 * relationships; the registry needs them only to refuse deleting a channel still in use.
 */
@Injectable()
export class RelationshipUsage implements OnModuleInit, OnApplicationShutdown {
  private readonly consumer = new EventConsumer();

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.consumer.start(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.relationships],
      types: ['relationship.upserted.v1'],
      partitionsConcurrently: this.transport.partitions,
      handle: async (items) => {
        // The latest per relationship is all that matters; a version guard keeps a replay from going back.
        const upserts = new Map<string, { orgId: string; channelId: string | null; version: number }>();
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
        await this.db.transaction((em) => apply(em, upserts, deleted));
      },
    });
  }

  /**
   * Reads `waybill.relationships` up to its current end before a decision that depends on it: a
   * relationship created (or moved) a moment ago through routing is counted. Answers 503 rather
   * than decide on a replica that cannot catch up.
   */
  async catchUp(): Promise<void> {
    if (!this.consumer.started) throw new Error('relationship usage not started');
    if (!(await this.consumer.catchUp(CATCH_UP_TIMEOUT_MS))) {
      throw Problems.unavailable('The relationships could not be read in time to decide; try again.', 1);
    }
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

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }
}

async function apply(
  em: EntityManager,
  upserts: Map<string, { orgId: string; channelId: string | null; version: number }>,
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
