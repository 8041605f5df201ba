import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { ChannelState, TransactionHeader } from '@waybill/contracts';
import { eventMessage, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { commitAndPublish } from '@waybill/messaging';
import { ChannelReplica, newId, ProblemError, Problems, TRANSPORT, validate } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { checkDocument, checkPayload, requestFingerprint } from '../domain/payload.rules';
import { IdempotencyKey, MAX_PAYLOAD_BYTES, SendTransactionInput, sendTransactionSchema } from '../domain/transaction.input';
import { RelationshipRow, SCHEMA } from './relationships.service';
import { RoutingService } from './routing.service';

export interface AcceptedTransaction {
  id: string;
  status: 'PENDING';
  relationshipId: string;
  channelId: string;
  createdAt: string;
}

/** One transaction to take: its body as received, where it sits in the request (for error paths), its key. */
export interface IngestItem {
  body: unknown;
  /** `body`, or `body.transactions[3]`. */
  path: string;
  idempotencyKey?: unknown;
  /** What the Idempotency-Key's body check compares: the whole body of a single POST, a batch item without its key. */
  fingerprintOf: unknown;
}

export type IngestResult =
  | { ok: true; transaction: AcceptedTransaction; replayed: boolean; idempotencyKey?: string }
  | { ok: false; error: ProblemError; idempotencyKey?: string };

/** An item that passed every check and will be stored (or replayed, with a key already used). */
interface Ready {
  index: number;
  key?: string;
  fingerprint?: string;
  header: TransactionHeader;
  channel: ChannelState;
  text: string;
  bytes: number;
  payload: unknown;
}

/**
 * The way in for transactions, one or a batch at a time. Checks every item (body, relationship,
 * channel, payload), then in ONE database transaction claims the Idempotency-Keys, stores the
 * transactions with their payloads in one bulk insert, and appends `transaction.received`,
 * `transaction.routed` and `delivery.requested` of each to the outbox; answers once the outbox
 * is flushed (read your writes). An item that fails a check changes nothing and is answered with
 * its problem; the others go on.
 */
@Injectable()
export class IngestionService {
  private readonly outbox: Outbox;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    private readonly channels: ChannelReplica,
    private readonly routing: RoutingService,
  ) {
    this.outbox = transport.outbox(SCHEMA);
  }

  async ingest(orgId: string, items: IngestItem[], now = new Date()): Promise<IngestResult[]> {
    const results: IngestResult[] = new Array(items.length);
    const parsed = items.map((item, index) => {
      try {
        const key = item.idempotencyKey === undefined ? undefined : validate(IdempotencyKey, item.idempotencyKey, keyPath(item.path));
        return { index, key, input: validate(sendTransactionSchema(item.body), item.body, item.path) };
      } catch (err) {
        results[index] = { ok: false, error: asProblem(err), ...keyOf(item) };
        return null;
      }
    });
    const valid = parsed.filter((p): p is NonNullable<typeof p> => p !== null);
    const relationships = await this.resolveRelationships(orgId, valid.map((v) => v.input));
    const channelCache = new Map<string, Promise<ChannelState | undefined>>();
    const ready: Ready[] = [];
    for (const { index, key, input } of valid) {
      try {
        const rel = relationships(input);
        if (!rel.channel_id) {
          throw Problems.unprocessable(
            'RELATIONSHIP_HAS_NO_CHANNEL',
            `Relationship ${rel.id} has no channel: assign one (PATCH /v1/relationships/${rel.id}), or set a default inbound channel before creating relationships.`,
          );
        }
        let lookup = channelCache.get(rel.channel_id);
        if (!lookup) channelCache.set(rel.channel_id, (lookup = this.channels.channel(orgId, rel.channel_id)));
        const channel = await lookup;
        if (!channel) throw Problems.unprocessable('RELATIONSHIP_HAS_NO_CHANNEL', `The channel of relationship ${rel.id} no longer exists.`);
        const checked = checkPayload(input.payload, channel.format, MAX_PAYLOAD_BYTES);
        if (!checked.ok) {
          if (checked.status === 413) throw Problems.tooLarge(checked.message);
          throw Problems.invalid([{ path: `${items[index].path}.payload`, message: checked.message }]);
        }
        const malformed = checkDocument(checked.text, channel.format);
        if (malformed) throw Problems.invalid([{ path: `${items[index].path}.payload`, message: malformed }]);
        ready.push({
          index,
          key,
          fingerprint: key === undefined ? undefined : requestFingerprint(items[index].fingerprintOf),
          channel,
          text: checked.text,
          bytes: checked.bytes,
          payload: channel.format === 'JSON' ? input.payload : checked.text,
          header: {
            id: newId('tx'),
            relationshipId: rel.id,
            senderId: rel.sender_id,
            receiverId: rel.receiver_id,
            transactionType: rel.transaction_type,
            businessNumber: input.businessNumber ?? null,
            stream: input.stream,
            createdAt: now.toISOString(),
          },
        });
      } catch (err) {
        results[index] = { ok: false, error: asProblem(err), ...(key !== undefined && { idempotencyKey: key }) };
      }
    }
    if (ready.length > 0) {
      const stored = await commitAndPublish(this.db, this.outbox, async (em, emit) => {
        const value = await this.store(em, orgId, ready, now, emit);
        return { value, flush: [...value.values()].some((r) => r.ok && r.replayed) };
      });
      for (const [index, result] of stored) results[index] = result;
    }
    return results;
  }

  /** Claims the keys, then stores what is new: one statement for the keys, one for the transactions. */
  private async store(
    em: EntityManager,
    orgId: string,
    ready: Ready[],
    now: Date,
    emit: (...m: OutgoingMessage[]) => void,
  ): Promise<Map<number, IngestResult>> {
    const results = new Map<number, IngestResult>();
    const claimers = new Map<string, Keyed>();
    const repeats: Keyed[] = [];
    for (const r of ready) {
      if (!isKeyed(r)) continue;
      if (claimers.has(r.key)) repeats.push(r);
      else claimers.set(r.key, r);
    }
    const fresh = new Set(ready.filter((r) => r.key === undefined));
    if (claimers.size > 0) {
      const claims = [...claimers.values()].sort((a, b) => (a.key < b.key ? -1 : 1)); // one order: no deadlock between batches
      const claimed: { key: string }[] = await em.query(
        `INSERT INTO idempotency_keys (org_id, key, request_hash, transaction_id, created_at)
         SELECT $1, k, h, t, $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(k, h, t, n) ORDER BY n
         ON CONFLICT (org_id, key) DO NOTHING RETURNING key`,
        [orgId, claims.map((c) => c.key), claims.map((c) => c.fingerprint), claims.map((c) => c.header.id), now],
      );
      const won = new Set(claimed.map((c) => c.key));
      const earlier = await this.earlierTransactions(em, orgId, claims.filter((c) => !won.has(c.key)).map((c) => c.key));
      for (const c of claims) {
        if (won.has(c.key)) {
          fresh.add(c);
          continue;
        }
        const first = earlier.get(c.key);
        results.set(c.index, first && first.hash === c.fingerprint ? replay(first.transaction, c.key) : reused(c.key));
      }
      // The same key twice in one batch: the second is the first one's replay, or a conflict.
      for (const r of repeats) {
        const first = claimers.get(r.key) as Keyed;
        const firstResult = results.get(first.index);
        const firstTransaction = firstResult?.ok ? firstResult.transaction : fresh.has(first) ? accepted(first) : null;
        results.set(r.index, firstTransaction && first.fingerprint === r.fingerprint ? replay(firstTransaction, r.key) : reused(r.key));
      }
    }
    const toStore = ready.filter((r) => fresh.has(r));
    if (toStore.length === 0) return results;
    // One JSON document for the rows: serialised once, natively (array literals escape every payload).
    await em.query(
      `INSERT INTO transactions (id, org_id, relationship_id, channel_id, generation, header, format, payload, created_at)
       SELECT header->>'id', $1, header->>'relationshipId', ch, 1, header, format, payload, $2
         FROM json_to_recordset($3::json) AS u(header jsonb, ch text, format text, payload text)`,
      [orgId, now, JSON.stringify(toStore.map((r) => ({ header: r.header, ch: r.channel.id, format: r.channel.format, payload: r.text })))],
    );
    for (const r of toStore) {
      emit(
        eventMessage(
          'transaction.received.v1',
          { orgId, key: r.header.id, data: { ...r.header, channelId: r.channel.id, format: r.channel.format, payloadBytes: r.bytes } },
          now,
        ),
        ...this.routing.deliveryEvents(orgId, r.header, r.channel.id, r.channel.format, r.payload, 1, now),
      );
      results.set(r.index, { ok: true, transaction: accepted(r), replayed: false, ...(r.key !== undefined && { idempotencyKey: r.key }) });
    }
    return results;
  }

  private async earlierTransactions(em: EntityManager, orgId: string, keys: string[]): Promise<Map<string, { hash: string; transaction: AcceptedTransaction }>> {
    if (keys.length === 0) return new Map();
    const rows: { key: string; request_hash: string; id: string; relationship_id: string; channel_id: string; created_at: Date }[] = await em.query(
      `SELECT k.key, k.request_hash, t.id, t.relationship_id, t.channel_id, t.created_at
         FROM idempotency_keys k JOIN transactions t ON t.id = k.transaction_id
        WHERE k.org_id = $1 AND k.key = ANY($2::text[])`,
      [orgId, keys],
    );
    return new Map(
      rows.map((r) => [
        r.key,
        {
          hash: r.request_hash,
          transaction: { id: r.id, status: 'PENDING', relationshipId: r.relationship_id, channelId: r.channel_id, createdAt: r.created_at.toISOString() },
        },
      ]),
    );
  }

  /** Finds every item's relationship in one query (by id, or by sender, receiver and type). */
  private async resolveRelationships(orgId: string, inputs: SendTransactionInput[]): Promise<(input: SendTransactionInput) => RelationshipRow> {
    const ids = new Set<string>();
    const triples = new Map<string, [string, string, string]>();
    for (const input of inputs) {
      if ('relationshipId' in input) ids.add(input.relationshipId);
      else triples.set(tripleKey(input.senderId, input.receiverId, input.transactionType), [input.senderId, input.receiverId, input.transactionType]);
    }
    const byId = new Map<string, RelationshipRow>();
    const byTriple = new Map<string, RelationshipRow>();
    if (ids.size > 0 || triples.size > 0) {
      const t = [...triples.values()];
      const rows: RelationshipRow[] = await this.db.query(
        `SELECT * FROM relationships WHERE org_id = $1 AND (id = ANY($2::text[]) OR (sender_id, receiver_id, transaction_type) IN (
           SELECT * FROM unnest($3::text[], $4::text[], $5::text[])))`,
        [orgId, [...ids], t.map((x) => x[0]), t.map((x) => x[1]), t.map((x) => x[2])],
      );
      for (const r of rows) {
        byId.set(r.id, r);
        byTriple.set(tripleKey(r.sender_id, r.receiver_id, r.transaction_type), r);
      }
    }
    return (input) => {
      const found = 'relationshipId' in input ? byId.get(input.relationshipId) : byTriple.get(tripleKey(input.senderId, input.receiverId, input.transactionType));
      if (found) return found;
      throw Problems.notFound(
        'Relationship',
        'relationshipId' in input ? input.relationshipId : `${input.senderId} → ${input.receiverId} (${input.transactionType})`,
      );
    };
  }
}

type Keyed = Ready & { key: string; fingerprint: string };

function isKeyed(r: Ready): r is Keyed {
  return r.key !== undefined && r.fingerprint !== undefined;
}

function tripleKey(sender: string, receiver: string, type: string): string {
  return JSON.stringify([sender, receiver, type]);
}

function accepted(r: Ready): AcceptedTransaction {
  return { id: r.header.id, status: 'PENDING', relationshipId: r.header.relationshipId, channelId: r.channel.id, createdAt: r.header.createdAt };
}

function replay(transaction: AcceptedTransaction, key: string): IngestResult {
  return { ok: true, transaction, replayed: true, idempotencyKey: key };
}

function reused(key: string): IngestResult {
  return {
    ok: false,
    idempotencyKey: key,
    error: new ProblemError(409, 'IDEMPOTENCY_KEY_REUSED', 'Conflict', `The Idempotency-Key ${JSON.stringify(key)} was used with a different body.`),
  };
}

function keyPath(path: string): string {
  return path === 'body' ? 'header.idempotency-key' : `${path}.idempotencyKey`;
}

function keyOf(item: IngestItem): { idempotencyKey?: string } {
  return typeof item.idempotencyKey === 'string' ? { idempotencyKey: item.idempotencyKey } : {};
}

function asProblem(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  throw err;
}
