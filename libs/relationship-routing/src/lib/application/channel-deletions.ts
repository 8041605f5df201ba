import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { ChannelState, Topics } from '@waybill/contracts';
import { EventConsumer, eventMessage, MessageTransport, OutgoingMessage } from '@waybill/messaging';
import { LOGGER, Problems, TRANSPORT } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { SCHEMA } from './routing.schema';

const GROUP = 'waybill.routing.channel-deletions';
/** `channel_guards.deleting` of a channel that is gone (its tombstone was read). */
const DELETED = 'deleted';
/** Relationship ids a report names (the registry's 409 shows a few). */
const REPORTED_IDS = 5;

/**
 * Routing's half of deleting a channel. The registry decides deletes, routing assigns channels to
 * relationships, and the two must never both succeed on one channel. So a delete goes in two
 * steps: the registry marks the channel `deleting` (`channel.upserted.v1`); routing, reading it
 * here, marks the channel's guard row — after which no relationship can be given the channel
 * (`assignChannel`) — and only then counts the relationships that use it, and reports the count
 * (`channel.usage-reported.v1`). A relationship being created at that moment holds the guard row
 * (a share lock) until it commits, so it is either counted or refused: the count cannot grow
 * after the report. The registry deletes on a report of none, else clears the mark (a later
 * `channel.upserted.v1` without it), which clears the guard here.
 */
@Injectable()
export class ChannelDeletions implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer = new EventConsumer();

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const outbox = this.transport.outbox(SCHEMA);
    await this.consumer.start(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.channels],
      types: ['channel.upserted.v1'],
      partitionsConcurrently: this.transport.partitions,
      handle: async (items) => {
        let reported = false;
        await this.db.transaction(async (em) => {
          for (const item of items) {
            if (item.kind === 'tombstone') {
              await mark(em, item.key, DELETED, null);
            } else if (item.event.type === 'channel.upserted.v1') {
              const report = await this.apply(em, item.event.data);
              if (report) {
                await outbox.append(em, [report]);
                reported = true;
              }
            }
          }
        });
        if (reported) await outbox.flush();
      },
    });
  }

  private async apply(em: EntityManager, channel: ChannelState): Promise<OutgoingMessage | null> {
    if (!channel.deleting) {
      await em.query(`UPDATE channel_guards SET deleting = NULL WHERE channel_id = $1 AND deleting IS NOT NULL AND deleting <> $2`, [
        channel.id,
        DELETED,
      ]);
      return null;
    }
    // The guard first (it waits for relationships being given the channel to commit), then the count.
    await mark(em, channel.id, channel.deleting.requestId, channel.version);
    const users: { id: string; count: number }[] = await em.query(
      `SELECT id, count(*) OVER ()::int AS count FROM relationships WHERE org_id = $1 AND channel_id = $2 ORDER BY id LIMIT ${REPORTED_IDS}`,
      [channel.orgId, channel.id],
    );
    return eventMessage('channel.usage-reported.v1', {
      orgId: channel.orgId,
      key: channel.id,
      data: { channelId: channel.id, requestId: channel.deleting.requestId, count: users[0]?.count ?? 0, relationshipIds: users.map((u) => u.id) },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }
}

async function mark(em: EntityManager, channelId: string, deleting: string, version: number | null): Promise<void> {
  await em.query(
    `INSERT INTO channel_guards (channel_id, deleting, mark_version) VALUES ($1, $2, $3)
     ON CONFLICT (channel_id) DO UPDATE
       SET deleting = CASE WHEN channel_guards.deleting = '${DELETED}' THEN channel_guards.deleting ELSE EXCLUDED.deleting END,
           mark_version = EXCLUDED.mark_version`,
    [channelId, deleting, version],
  );
}

/**
 * In the caller's transaction, before it gives `channelId` to a relationship: holds the channel's
 * guard row (a share lock, until the caller commits) and refuses a channel that is being deleted
 * (409 `CHANNEL_BEING_DELETED`) or is gone (404). See {@link ChannelDeletions}.
 *
 * A guard still marked when the registry has already lifted the mark (it refused the delete, and
 * answered 409, a moment ago; this service's consumer has not read that yet) is told apart by
 * `latest`, the channel as `waybill.channels` has it now: a later version without the mark means
 * the delete it stood for is over, and the channel may be given — a new mark would find this
 * share lock and count the relationship.
 */
export async function assignChannel(
  em: EntityManager,
  channelId: string,
  latest: () => Promise<ChannelState | undefined>,
): Promise<void> {
  await em.query('INSERT INTO channel_guards (channel_id) VALUES ($1) ON CONFLICT (channel_id) DO NOTHING', [channelId]);
  const rows: { deleting: string | null; mark_version: number | null }[] = await em.query(
    'SELECT deleting, mark_version FROM channel_guards WHERE channel_id = $1 FOR SHARE',
    [channelId],
  );
  const { deleting = null, mark_version: marked = null } = rows[0] ?? {};
  if (deleting === DELETED) throw Problems.notFound('Channel', channelId);
  if (deleting === null) return;
  const now = await latest();
  if (!now) throw Problems.notFound('Channel', channelId);
  if (!now.deleting && marked !== null && now.version > marked) return;
  throw Problems.conflict(
    'CHANNEL_BEING_DELETED',
    `Channel ${channelId} is being deleted; choose another channel, or try again once its delete has been refused.`,
  );
}
