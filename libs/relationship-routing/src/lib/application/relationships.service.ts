import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { RelationshipState, Topics } from '@waybill/contracts';
import { eventMessage, MessageTransport, Outbox, tombstone } from '@waybill/messaging';
import { ChannelReplica, decodeCursor, LOGGER, newId, Page, Problems, toPage, TRANSPORT } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { commitAndPublish, commitWithEvents } from '@waybill/messaging';
import type { CreateRelationshipInput, UpdateRelationshipInput } from '../domain/transaction.input';
import { assignChannel } from './channel-deletions';
import { SCHEMA } from './routing.schema';

/** Importers of the schema name from here keep working; it lives in `routing.schema.ts`. */
export { SCHEMA };

export interface RelationshipRow {
  id: string;
  org_id: string;
  version: number;
  sender_id: string;
  receiver_id: string;
  transaction_type: string;
  channel_id: string | null;
  channel_source: 'EXPLICIT' | 'DEFAULT' | null;
  created_at: Date;
}

/**
 * Relationships: (sender, receiver, transaction type) → channel. Each change is published whole on
 * the compacted `waybill.relationships` (a delete as a tombstone), which the registry replicates
 * to know which channels are in use.
 */
@Injectable()
export class RelationshipsService {
  private readonly outbox: Outbox;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly channels: ChannelReplica,
  ) {
    this.outbox = transport.outbox(SCHEMA);
  }

  /**
   * Without a channel, the relationship gets the organisation's default inbound channel as it is
   * now (`channelSource: DEFAULT`); a later change of the default moves nothing.
   */
  async create(orgId: string, input: CreateRelationshipInput) {
    let channelId: string | null = null;
    let channelSource: RelationshipState['channelSource'] = null;
    if (input.channelId) {
      await this.requireChannel(orgId, input.channelId);
      channelId = input.channelId;
      channelSource = 'EXPLICIT';
    } else {
      const { defaultInboundChannelId } = await this.channels.orgSettings(orgId);
      if (defaultInboundChannelId && (await this.channels.channel(orgId, defaultInboundChannelId))) {
        channelId = defaultInboundChannelId;
        channelSource = 'DEFAULT';
      }
    }
    const now = new Date();
    const state: RelationshipState = {
      id: newId('rel'),
      orgId,
      version: 1,
      senderId: input.senderId,
      receiverId: input.receiverId,
      transactionType: input.transactionType,
      channelId,
      channelSource,
      createdAt: now.toISOString(),
    };
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      // Serialised with a delete of the channel (see ChannelDeletions): refused once it has begun.
      if (channelId) await assignChannel(em, channelId, () => this.channels.latest(orgId, channelId as string));
      const inserted: unknown[] = await em.query(
        `INSERT INTO relationships (id, org_id, version, sender_id, receiver_id, transaction_type, channel_id, channel_source, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ON CONSTRAINT relationships_natural_key DO NOTHING RETURNING id`,
        [state.id, orgId, state.version, state.senderId, state.receiverId, state.transactionType, channelId, channelSource, now],
      );
      if (inserted.length === 0) {
        throw Problems.conflict(
          'RELATIONSHIP_EXISTS',
          `A relationship ${state.senderId} → ${state.receiverId} for ${state.transactionType} already exists.`,
        );
      }
      emit(eventMessage('relationship.upserted.v1', { orgId, key: state.id, data: state }, now));
    });
    this.log.info({ orgId, relationshipId: state.id, channelId }, 'relationship created');
    return relationshipView(state);
  }

  async get(orgId: string, id: string) {
    return relationshipView(fromRow(await this.load(this.db.manager, orgId, id)));
  }

  async list(orgId: string, limit: number, cursor?: string, channelId?: string): Promise<Page<RelationshipView>> {
    const after = decodeCursor(cursor);
    const rows: RelationshipRow[] = await this.db.query(
      `SELECT * FROM relationships
        WHERE org_id = $1 AND ($2::text IS NULL OR channel_id = $2)
          AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
        ORDER BY created_at DESC, id DESC LIMIT $5`,
      [orgId, channelId ?? null, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => ({ at: r.created_at.toISOString(), id: r.id }), (r) => relationshipView(fromRow(r)));
  }

  /** Assigns or overrides the channel (`EXPLICIT`), or unassigns it with null. */
  async update(orgId: string, id: string, change: UpdateRelationshipInput) {
    if (change.channelId) await this.requireChannel(orgId, change.channelId);
    const now = new Date();
    const state = await commitAndPublish(this.db, this.outbox, async (em, emit) => {
      const current = fromRow(await this.load(em, orgId, id, true));
      const channelSource = change.channelId ? ('EXPLICIT' as const) : null;
      if (current.channelId === change.channelId && current.channelSource === channelSource) return { value: current };
      if (change.channelId) await assignChannel(em, change.channelId, () => this.channels.latest(orgId, change.channelId as string));
      const next: RelationshipState = { ...current, channelId: change.channelId, channelSource, version: current.version + 1 };
      await em.query('UPDATE relationships SET channel_id = $2, channel_source = $3, version = $4 WHERE id = $1', [
        id, next.channelId, next.channelSource, next.version,
      ]);
      emit(eventMessage('relationship.upserted.v1', { orgId, key: id, data: next }, now));
      return { value: next };
    });
    return relationshipView(state);
  }

  /** Deletes a relationship; its transactions stay readable (a redelivery of one then fails, saying why). */
  async delete(orgId: string, id: string): Promise<void> {
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      await this.load(em, orgId, id, true);
      await em.query('DELETE FROM relationships WHERE id = $1', [id]);
      emit(tombstone(Topics.relationships, id));
    });
    this.log.info({ orgId, relationshipId: id }, 'relationship deleted');
  }

  private async requireChannel(orgId: string, channelId: string): Promise<void> {
    if (!(await this.channels.channel(orgId, channelId))) throw Problems.notFound('Channel', channelId);
  }

  private async load(em: EntityManager, orgId: string, id: string, forUpdate = false): Promise<RelationshipRow> {
    const rows: RelationshipRow[] = await em.query(
      `SELECT * FROM relationships WHERE id = $1 AND org_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [id, orgId],
    );
    if (rows.length === 0) throw Problems.notFound('Relationship', id);
    return rows[0];
  }
}

export function fromRow(r: RelationshipRow): RelationshipState {
  return {
    id: r.id,
    orgId: r.org_id,
    version: r.version,
    senderId: r.sender_id,
    receiverId: r.receiver_id,
    transactionType: r.transaction_type,
    channelId: r.channel_id,
    channelSource: r.channel_source,
    createdAt: r.created_at.toISOString(),
  };
}

export function relationshipView(s: RelationshipState) {
  return {
    id: s.id,
    senderId: s.senderId,
    receiverId: s.receiverId,
    transactionType: s.transactionType,
    channelId: s.channelId,
    channelSource: s.channelSource,
    createdAt: s.createdAt,
  };
}
export type RelationshipView = ReturnType<typeof relationshipView>;
