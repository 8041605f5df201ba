import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { ChannelState, TransactionHeader } from '@waybill/contracts';
import { GroupCommit, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { ChannelReplica, MetricsRegistry, newId, ProblemError, Problems, TRANSPORT, validate } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { checkDocument, checkPayload, requestFingerprint } from '../domain/payload.rules';
import { IdempotencyKey, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, SendTransactionInput, sendTransactionSchema } from '../domain/transaction.input';
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
  /**
   * What the Idempotency-Key's body check compares, as the text sent: the whole body of a single
   * POST, a batch item (its own `idempotencyKey` left out by the check).
   */
  sentText: string;
  /** The payload as the text sent, and how deep it nests (see `locateSpans`); absent when there is none. */
  payload?: { text: string; depth: number };
}

export type IngestResult =
  | { ok: true; transaction: AcceptedTransaction; replayed: boolean; idempotencyKey?: string }
  | { ok: false; error: ProblemError; idempotencyKey?: string };

/** An item that passed the body's schema: what the group will route, check and store. */
interface Parsed {
  index: number;
  key?: string;
  input: SendTransactionInput;
}

/** One caller's items, as they ride a group commit. */
interface Request {
  orgId: string;
  now: Date;
  items: Parsed[];
  /** The originals, for error paths and the Idempotency-Key's body check. */
  originals: IngestItem[];
  /** Set once routing's channel replica was caught up for this request's unknown channels. */
  caughtUp: boolean;
  /** The request body's size in bytes (bounds a group's size), or an estimate. */
  bytes: number;
}

/**
 * A request's results by item index, the items whose channel the replica did not know yet, and
 * the topics its group wrote (its caller flushes them before answering; null: nothing to wait for).
 */
interface Outcome {
  results: Map<number, IngestResult>;
  unknownChannel: { parsed: Parsed; channelId: string }[];
  flush: string[] | null;
}

/** An item that passed every check and will be stored (or replayed, with a key already used). */
interface Ready {
  request: Request;
  index: number;
  key?: string;
  fingerprint?: string;
  header: TransactionHeader;
  channel: ChannelState;
  /** The payload as stored and delivered: the JSON text sent, or the document. */
  text: string;
  bytes: number;
}

/** A batch item's own Idempotency-Key is not part of what its key's body check compares. */
const BATCH_ITEM_KEY = ['idempotencyKey'];

/** Most calls in one group commit, and most request bytes (a request larger than this still goes, alone). */
const GROUP_MAX_REQUESTS = 512;
const GROUP_MAX_BYTES = 16 * 1024 * 1024;
/** A request's size when its caller does not know it. */
const ITEM_BYTES_ESTIMATE = 4 * 1024;

/**
 * The way in for transactions, one or a batch at a time. Concurrent calls are taken together
 * (`GroupCommit`): a group finds every item's relationship in one query, checks each item (body,
 * channel, payload), then in ONE database transaction claims the Idempotency-Keys, stores the
 * transactions with their payloads in one bulk insert, and appends `transaction.received` (which
 * names the first delivery) and `delivery.requested` of each to the outbox; every caller of the group is
 * answered once it is committed and the outbox flushed (durable, and visible to every later call).
 * An item that fails a check changes nothing and is answered with its problem; the others go on.
 */
@Injectable()
export class IngestionService {
  private readonly outbox: Outbox;
  private readonly group: GroupCommit<Request, Outcome>;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    private readonly channels: ChannelReplica,
    private readonly routing: RoutingService,
    metrics: MetricsRegistry,
  ) {
    this.outbox = transport.outbox(SCHEMA);
    const requests = metrics.histogram({
      name: 'waybill_ingest_group_requests',
      help: 'Calls of POST /v1/transactions(/batch) that shared one database transaction (group commit).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    });
    const seconds = metrics.histogram({
      name: 'waybill_ingest_group_seconds',
      help: 'Time a group commit of ingested transactions took, from its first query to its commit.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    const waiting = () => this.group.waiting;
    metrics.gauge({
      name: 'waybill_ingest_waiting_requests',
      help: 'Calls of POST /v1/transactions(/batch) waiting for the next group commit.',
      collect() {
        this.set(waiting());
      },
    });
    this.group = new GroupCommit<Request, Outcome>((batch) => this.ingestGroup(batch), {
      maxItems: GROUP_MAX_REQUESTS,
      maxWeight: GROUP_MAX_BYTES,
      weight: (r) => r.bytes,
      onGroup: (n, ms) => {
        requests.observe(n);
        seconds.observe(ms / 1000);
      },
    });
  }

  /** `bytes`: the request body's size, when known (it bounds how many requests share a database transaction). */
  async ingest(orgId: string, items: IngestItem[], opts: { now?: Date; bytes?: number } = {}): Promise<IngestResult[]> {
    const now = opts.now ?? new Date();
    const results: IngestResult[] = new Array(items.length);
    const parsed: Parsed[] = [];
    items.forEach((item, index) => {
      try {
        const key = item.idempotencyKey === undefined ? undefined : validate(IdempotencyKey, item.idempotencyKey, keyPath(item.path));
        const input = validate(sendTransactionSchema(item.body), item.body, item.path);
        if ((item.payload?.depth ?? 0) > MAX_PAYLOAD_DEPTH) {
          throw Problems.invalid([{ path: `${item.path}.payload`, message: `nests deeper than ${MAX_PAYLOAD_DEPTH} levels` }]);
        }
        parsed.push({ index, key, input });
      } catch (err) {
        results[index] = { ok: false, error: asProblem(err), ...keyOf(item) };
      }
    });
    if (parsed.length === 0) return results;
    const request: Request = { orgId, now, items: parsed, originals: items, caughtUp: false, bytes: opts.bytes ?? items.length * ITEM_BYTES_ESTIMATE };
    let outcome = await this.submit(request);
    for (const [index, result] of outcome.results) results[index] = result;
    if (outcome.unknownChannel.length > 0) {
      // A channel routing's replica has not read yet (another instance created the relationship
      // a moment ago): caught up outside the group, so that no other caller waits for it.
      await Promise.all([...new Set(outcome.unknownChannel.map((u) => u.channelId))].map((id) => this.channels.channel(orgId, id)));
      outcome = await this.submit({ ...request, items: outcome.unknownChannel.map((u) => u.parsed), caughtUp: true });
      for (const [index, result] of outcome.results) results[index] = result;
    }
    return results;
  }

  /**
   * Rides a group commit, then waits until what the group wrote is visible to consumers (read your
   * writes). The wait is outside the group: the next group commits while the outbox is relayed, and
   * every caller waiting for a flush rides the same relay pass.
   */
  private async submit(request: Request): Promise<Outcome> {
    const outcome = await this.group.submit(request);
    if (outcome.flush) await this.outbox.flush(undefined, outcome.flush);
    return outcome;
  }

  /** One group: every request's relationships in one query, the checks, then one database transaction for all. */
  private async ingestGroup(requests: Request[]): Promise<Outcome[]> {
    const relationships = await this.resolveRelationships(requests);
    const outcomes: Outcome[] = requests.map(() => ({ results: new Map(), unknownChannel: [], flush: null }));
    const ready: Ready[] = [];
    requests.forEach((request, r) => {
      const { orgId, now, originals } = request;
      for (const { index, key, input } of request.items) {
        try {
          const rel = relationships(orgId, input);
          if (!rel.channel_id) {
            throw Problems.unprocessable(
              'RELATIONSHIP_HAS_NO_CHANNEL',
              `Relationship ${rel.id} has no channel: assign one (PATCH /v1/relationships/${rel.id}), or set a default inbound channel before creating relationships.`,
            );
          }
          const known = this.channels.current(rel.channel_id);
          const channel = known?.orgId === orgId ? known : undefined;
          if (!channel) {
            if (!request.caughtUp) {
              outcomes[r].unknownChannel.push({ parsed: { index, key, input }, channelId: rel.channel_id });
              continue;
            }
            throw Problems.unprocessable('RELATIONSHIP_HAS_NO_CHANNEL', `The channel of relationship ${rel.id} no longer exists.`);
          }
          const checked = checkPayload(input.payload, channel.format, MAX_PAYLOAD_BYTES, originals[index].payload?.text);
          if (!checked.ok) {
            if (checked.status === 413) throw Problems.tooLarge(checked.message);
            throw Problems.invalid([{ path: `${originals[index].path}.payload`, message: checked.message }]);
          }
          const malformed = checkDocument(checked.text, channel.format);
          if (malformed) throw Problems.invalid([{ path: `${originals[index].path}.payload`, message: malformed }]);
          ready.push({
            request,
            index,
            key,
            fingerprint: key === undefined ? undefined : requestFingerprint(originals[index].sentText, BATCH_ITEM_KEY),
            channel,
            text: checked.text,
            bytes: checked.bytes,

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
          outcomes[r].results.set(index, { ok: false, error: asProblem(err), ...(key !== undefined && { idempotencyKey: key }) });
        }
      }
    });
    if (ready.length > 0) {
      let topics: string[] = [];
      const stored = await this.db.transaction(async (em) => {
        const messages: OutgoingMessage[] = [];
        const value = await this.store(em, ready, (...m) => messages.push(...m));
        await this.outbox.append(em, messages);
        topics = [...new Set(messages.map((m) => m.topic))];
        return value;
      });
      const outcomeOf = new Map(requests.map((request, r) => [request, outcomes[r]]));
      for (const [item, result] of stored) {
        const outcome = outcomeOf.get(item.request) as Outcome;
        outcome.results.set(item.index, result);
        // A replayed key waits too: the first request's events must be visible before the answer.
        if (result.ok) outcome.flush = topics;
      }
    }
    return outcomes;
  }

  /** Claims the keys, then stores what is new: one statement for the keys, one for the transactions. */
  private async store(em: EntityManager, ready: Ready[], emit: (...m: OutgoingMessage[]) => void): Promise<Map<Ready, IngestResult>> {
    const results = new Map<Ready, IngestResult>();
    const claimers = new Map<string, Keyed>();
    const repeats: Keyed[] = [];
    for (const r of ready) {
      if (!isKeyed(r)) continue;
      const scoped = scopedKey(r);
      if (claimers.has(scoped)) repeats.push(r);
      else claimers.set(scoped, r);
    }
    const fresh = new Set(ready.filter((r) => r.key === undefined));
    if (claimers.size > 0) {
      // One order (organisation, key): concurrent groups cannot deadlock on each other's keys.
      const claims = [...claimers.values()].sort((a, b) => compareText(scopedKey(a), scopedKey(b)));
      const claimed: { org_id: string; key: string }[] = await em.query(
        `INSERT INTO idempotency_keys (org_id, key, request_hash, transaction_id, created_at)
         SELECT o, k, h, t, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS u(o, k, h, t, c, n)
          ORDER BY n
         ON CONFLICT (org_id, key) DO NOTHING RETURNING org_id, key`,
        [
          claims.map((c) => c.request.orgId),
          claims.map((c) => c.key),
          claims.map((c) => c.fingerprint),
          claims.map((c) => c.header.id),
          claims.map((c) => c.request.now),
        ],
      );
      const won = new Set(claimed.map((c) => scopedKeyOf(c.org_id, c.key)));
      const earlier = await this.earlierTransactions(em, claims.filter((c) => !won.has(scopedKey(c))));
      for (const c of claims) {
        if (won.has(scopedKey(c))) {
          fresh.add(c);
          continue;
        }
        const first = earlier.get(scopedKey(c));
        results.set(c, first && first.hash === c.fingerprint ? replay(first.transaction, c.key) : reused(c.key));
      }
      // The same key twice in one group: the second is the first one's replay, or a conflict.
      for (const r of repeats) {
        const first = claimers.get(scopedKey(r)) as Keyed;
        const firstResult = results.get(first);
        const firstTransaction = firstResult?.ok ? firstResult.transaction : fresh.has(first) ? accepted(first) : null;
        results.set(r, firstTransaction && first.fingerprint === r.fingerprint ? replay(firstTransaction, r.key) : reused(r.key));
      }
    }
    const toStore = ready.filter((r) => fresh.has(r));
    if (toStore.length === 0) return results;
    // One JSON document for the rows: serialised once, natively (array literals escape every payload).
    await em.query(
      `INSERT INTO transactions (id, org_id, relationship_id, channel_id, generation, header, format, payload, created_at)
       SELECT header->>'id', org, header->>'relationshipId', ch, 1, header, format, payload, at
         FROM json_to_recordset($1::json) AS u(header jsonb, org text, ch text, format text, payload text, at timestamptz)`,
      [
        JSON.stringify(
          toStore.map((r) => ({ header: r.header, org: r.request.orgId, ch: r.channel.id, format: r.channel.format, payload: r.text, at: r.header.createdAt })),
        ),
      ],
    );
    for (const r of toStore) {
      const { orgId, now } = r.request;
      emit(...this.routing.firstDelivery(orgId, r.header, r.channel.id, r.channel.format, r.text, r.bytes, now));
      results.set(r, { ok: true, transaction: accepted(r), replayed: false, ...(r.key !== undefined && { idempotencyKey: r.key }) });
    }
    return results;
  }

  private async earlierTransactions(em: EntityManager, lost: Keyed[]): Promise<Map<string, { hash: string; transaction: AcceptedTransaction }>> {
    if (lost.length === 0) return new Map();
    const rows: { org_id: string; key: string; request_hash: string; id: string; relationship_id: string; channel_id: string; created_at: Date }[] =
      await em.query(
        `SELECT k.org_id, k.key, k.request_hash, t.id, t.relationship_id, t.channel_id, t.created_at
           FROM idempotency_keys k JOIN transactions t ON t.id = k.transaction_id
          WHERE (k.org_id, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [lost.map((l) => l.request.orgId), lost.map((l) => l.key)],
      );
    return new Map(
      rows.map((r) => [
        scopedKeyOf(r.org_id, r.key),
        {
          hash: r.request_hash,
          transaction: { id: r.id, status: 'PENDING', relationshipId: r.relationship_id, channelId: r.channel_id, createdAt: r.created_at.toISOString() },
        },
      ]),
    );
  }

  /** Finds every item's relationship, of every request of the group, in one query (by id, or by sender, receiver and type). */
  private async resolveRelationships(requests: Request[]): Promise<(orgId: string, input: SendTransactionInput) => RelationshipRow> {
    const ids = new Map<string, [string, string]>();
    const triples = new Map<string, [string, string, string, string]>();
    for (const { orgId, items } of requests) {
      for (const { input } of items) {
        if ('relationshipId' in input) ids.set(idKey(orgId, input.relationshipId), [orgId, input.relationshipId]);
        else triples.set(tripleKey(orgId, input.senderId, input.receiverId, input.transactionType), [orgId, input.senderId, input.receiverId, input.transactionType]);
      }
    }
    const byId = new Map<string, RelationshipRow>();
    const byTriple = new Map<string, RelationshipRow>();
    if (ids.size > 0 || triples.size > 0) {
      const i = [...ids.values()];
      const t = [...triples.values()];
      const rows: RelationshipRow[] = await this.db.query(
        `SELECT * FROM relationships
          WHERE (org_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             OR (org_id, sender_id, receiver_id, transaction_type) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]))`,
        [i.map((x) => x[0]), i.map((x) => x[1]), t.map((x) => x[0]), t.map((x) => x[1]), t.map((x) => x[2]), t.map((x) => x[3])],
      );
      for (const r of rows) {
        byId.set(idKey(r.org_id, r.id), r);
        byTriple.set(tripleKey(r.org_id, r.sender_id, r.receiver_id, r.transaction_type), r);
      }
    }
    return (orgId, input) => {
      const found =
        'relationshipId' in input
          ? byId.get(idKey(orgId, input.relationshipId))
          : byTriple.get(tripleKey(orgId, input.senderId, input.receiverId, input.transactionType));
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

function tripleKey(orgId: string, sender: string, receiver: string, type: string): string {
  return JSON.stringify([orgId, sender, receiver, type]);
}

function idKey(orgId: string, id: string): string {
  return JSON.stringify([orgId, id]);
}

/** An Idempotency-Key is the organisation's own: the same key of two organisations are two keys. */
function scopedKey(r: Keyed): string {
  return scopedKeyOf(r.request.orgId, r.key);
}

function scopedKeyOf(orgId: string, key: string): string {
  return JSON.stringify([orgId, key]);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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
