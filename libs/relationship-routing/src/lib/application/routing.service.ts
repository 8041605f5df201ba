import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { RelationshipState, TransactionHeader } from '@waybill/contracts';
import { commitWithEvents, eventMessage, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { ChannelReplica, decodeCursor, newId, Page, ProblemError, Problems, toPage, TRANSPORT } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { CreateRelationshipInput, MAX_PAYLOAD_BYTES, SendTransactionInput } from '../domain/transaction.input';
import { checkPayload, requestFingerprint } from '../domain/payload.rules';

export const SCHEMA = 'routing';

interface RelationshipRow {
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

export interface AcceptedTransaction {
  id: string;
  status: 'PENDING';
  relationshipId: string;
  channelId: string;
  createdAt: string;
}

/** Relationships, and the way in for transactions. */
@Injectable()
export class RoutingService {
  private readonly outbox: Outbox;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    private readonly channels: ChannelReplica,
  ) {
    this.outbox = transport.outbox(SCHEMA);
  }

  async createRelationship(orgId: string, input: CreateRelationshipInput) {
    let channelId: string | null = null;
    let channelSource: RelationshipState['channelSource'] = null;
    if (input.channelId) {
      if (!(await this.channels.channel(orgId, input.channelId))) throw Problems.notFound('Channel', input.channelId);
      channelId = input.channelId;
      channelSource = 'EXPLICIT';
    } else {
      const { defaultInboundChannelId } = await this.channels.orgSettings(orgId);
      if (defaultInboundChannelId) {
        channelId = defaultInboundChannelId;
        channelSource = 'DEFAULT';
      }
    }
    const state: RelationshipState = {
      id: newId('rel'),
      orgId,
      version: 1,
      senderId: input.senderId,
      receiverId: input.receiverId,
      transactionType: input.transactionType,
      channelId,
      channelSource,
      createdAt: new Date().toISOString(),
    };
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      const inserted: unknown[] = await em.query(
        `INSERT INTO relationships (id, org_id, version, sender_id, receiver_id, transaction_type, channel_id, channel_source, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT ON CONSTRAINT relationships_natural_key DO NOTHING RETURNING id`,
        [state.id, orgId, state.version, state.senderId, state.receiverId, state.transactionType, channelId, channelSource, state.createdAt],
      );
      if (inserted.length === 0) {
        throw Problems.conflict(
          'RELATIONSHIP_EXISTS',
          `A relationship ${state.senderId} → ${state.receiverId} for ${state.transactionType} already exists.`,
        );
      }
      emit(eventMessage('relationship.upserted.v1', { orgId, key: state.id, data: state }));
    });
    return relationshipView(state);
  }

  async getRelationship(orgId: string, id: string) {
    const rows: RelationshipRow[] = await this.db.query('SELECT * FROM relationships WHERE id = $1 AND org_id = $2', [id, orgId]);
    if (rows.length === 0) throw Problems.notFound('Relationship', id);
    return relationshipView(fromRow(rows[0]));
  }

  async listRelationships(orgId: string, limit: number, cursor?: string, channelId?: string): Promise<Page<ReturnType<typeof relationshipView>>> {
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

  /**
   * Takes one transaction: stores it (payload included) with its idempotency key, and puts
   * `transaction.received`, `transaction.routed` and `delivery.requested` in the outbox, all in
   * one database transaction. `replayed` is true when an earlier request with the same key and
   * body created it.
   */
  async send(
    orgId: string,
    input: SendTransactionInput,
    idempotency?: { key: string; body: unknown },
  ): Promise<{ transaction: AcceptedTransaction; replayed: boolean }> {
    const rel = await this.resolveRelationship(orgId, input);
    if (!rel.channel_id) {
      throw Problems.unprocessable(
        'RELATIONSHIP_HAS_NO_CHANNEL',
        `Relationship ${rel.id} has no channel, and the organisation has no default inbound channel.`,
      );
    }
    const channel = await this.channels.channel(orgId, rel.channel_id);
    if (!channel) throw Problems.unprocessable('RELATIONSHIP_HAS_NO_CHANNEL', `The channel of relationship ${rel.id} no longer exists.`);
    const payload = checkPayload(input.payload, channel.format, MAX_PAYLOAD_BYTES);
    if (!payload.ok) {
      if (payload.status === 413) throw Problems.tooLarge(payload.message);
      throw Problems.invalid([{ path: 'body.payload', message: payload.message }]);
    }
    const now = new Date();
    const header: TransactionHeader = {
      id: newId('tx'),
      relationshipId: rel.id,
      senderId: rel.sender_id,
      receiverId: rel.receiver_id,
      transactionType: rel.transaction_type,
      businessNumber: input.businessNumber ?? null,
      stream: input.stream,
      createdAt: now.toISOString(),
    };
    const fingerprint = idempotency ? requestFingerprint(idempotency.body) : null;
    return commitWithEvents(this.db, this.outbox, async (em, emit) => {
      if (idempotency && fingerprint) {
        const earlier = await this.claimIdempotencyKey(em, orgId, idempotency.key, fingerprint, header.id, now);
        if (earlier) return { transaction: earlier, replayed: true };
      }
      await em.query(
        `INSERT INTO transactions (id, org_id, relationship_id, channel_id, generation, header, format, payload, created_at)
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8)`,
        [header.id, orgId, rel.id, channel.id, header, channel.format, payload.text, now],
      );
      emit(
        eventMessage('transaction.received.v1', {
          orgId,
          key: header.id,
          data: { ...header, channelId: channel.id, format: channel.format, payloadBytes: payload.bytes },
        }, now),
        ...this.deliveryEvents(orgId, header, channel.id, channel.format, input.payload, 1, now),
      );
      return {
        transaction: { id: header.id, status: 'PENDING' as const, relationshipId: rel.id, channelId: channel.id, createdAt: header.createdAt },
        replayed: false,
      };
    });
  }

  /** `transaction.routed` and `delivery.requested` of one delivery (a generation) of a transaction. */
  private deliveryEvents(
    orgId: string,
    header: TransactionHeader,
    channelId: string,
    format: 'JSON' | 'XML' | 'X12',
    payload: unknown,
    generation: number,
    now: Date,
  ): OutgoingMessage[] {
    const deliveryId = newId('dl');
    const transactionId = header.id;
    return [
      eventMessage('transaction.routed.v1', { orgId, key: transactionId, data: { transactionId, channelId, deliveryId, generation } }, now),
      eventMessage(
        'delivery.requested.v1',
        { orgId, key: channelId, data: { deliveryId, transactionId, channelId, generation, format, transaction: header, payload } },
        now,
      ),
    ];
  }

  /**
   * A new delivery of a stored transaction, to its relationship's channel as it is now (a partner
   * that fixed its URL, or a relationship moved to another channel, needs nothing else). Without a
   * channel any more, the transaction fails with the reason.
   */
  async redeliver(em: EntityManager, orgId: string, transactionId: string, now: Date): Promise<OutgoingMessage[]> {
    const rows: { header: TransactionHeader; payload: string; format: 'JSON' | 'XML' | 'X12'; generation: number; relationship_id: string }[] =
      await em.query(
        'SELECT header, payload, format, generation, relationship_id FROM transactions WHERE id = $1 AND org_id = $2 FOR UPDATE',
        [transactionId, orgId],
      );
    const tx = rows[0];
    if (!tx) return [];
    const rel: RelationshipRow[] = await em.query('SELECT * FROM relationships WHERE id = $1', [tx.relationship_id]);
    const channelId = rel[0]?.channel_id ?? null;
    const channel = channelId ? await this.channels.channel(orgId, channelId) : undefined;
    if (!channel) {
      const reason = rel[0] ? 'the relationship has no channel' : 'the relationship no longer exists';
      return [eventMessage('transaction.failed.v1', { orgId, key: transactionId, data: { transactionId, deliveryId: null, reason } }, now)];
    }
    const generation = tx.generation + 1;
    await em.query('UPDATE transactions SET generation = $2, channel_id = $3 WHERE id = $1', [transactionId, generation, channel.id]);
    const payload = tx.format === 'JSON' ? JSON.parse(tx.payload) : tx.payload;
    return this.deliveryEvents(orgId, tx.header, channel.id, channel.format, payload, generation, now);
  }

  /**
   * Claims `key` for this request. Two concurrent requests with one key serialise on its row:
   * the second sees the first's transaction once it commits.
   */
  private async claimIdempotencyKey(
    em: EntityManager,
    orgId: string,
    key: string,
    fingerprint: string,
    transactionId: string,
    now: Date,
  ): Promise<AcceptedTransaction | null> {
    const claimed: unknown[] = await em.query(
      `INSERT INTO idempotency_keys (org_id, key, request_hash, transaction_id, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (org_id, key) DO NOTHING RETURNING key`,
      [orgId, key, fingerprint, transactionId, now],
    );
    if (claimed.length > 0) return null;
    const rows: { request_hash: string; id: string; relationship_id: string; channel_id: string; created_at: Date }[] = await em.query(
      `SELECT k.request_hash, t.id, t.relationship_id, t.channel_id, t.created_at
         FROM idempotency_keys k JOIN transactions t ON t.id = k.transaction_id
        WHERE k.org_id = $1 AND k.key = $2`,
      [orgId, key],
    );
    const first = rows[0];
    if (!first || first.request_hash !== fingerprint) {
      throw new ProblemError(409, 'IDEMPOTENCY_KEY_REUSED', 'Conflict', 'This Idempotency-Key was used with a different body.');
    }
    return { id: first.id, status: 'PENDING', relationshipId: first.relationship_id, channelId: first.channel_id, createdAt: first.created_at.toISOString() };
  }

  private async resolveRelationship(orgId: string, input: SendTransactionInput): Promise<RelationshipRow> {
    const rows: RelationshipRow[] =
      'relationshipId' in input
        ? await this.db.query('SELECT * FROM relationships WHERE id = $1 AND org_id = $2', [input.relationshipId, orgId])
        : await this.db.query(
            'SELECT * FROM relationships WHERE org_id = $1 AND sender_id = $2 AND receiver_id = $3 AND transaction_type = $4',
            [orgId, input.senderId, input.receiverId, input.transactionType],
          );
    if (rows.length === 0) {
      throw Problems.notFound(
        'Relationship',
        'relationshipId' in input ? input.relationshipId : `${input.senderId} → ${input.receiverId} (${input.transactionType})`,
      );
    }
    return rows[0];
  }
}

function fromRow(r: RelationshipRow): RelationshipState {
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

