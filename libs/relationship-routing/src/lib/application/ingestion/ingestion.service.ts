import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { GroupCommit, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { ChannelReplica, MetricsRegistry, newId, ProblemError, Problems, TRANSPORT, validate } from '@waybill/platform';
import { checkDocument, checkPayload, requestFingerprint } from '../../domain/payload.rules';
import { IdempotencyKey, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, sendTransactionSchema } from '../../domain/transaction.input';
import { ROUTING_DB, ROUTING_SCHEMA } from '../routing.database';
import { RoutingService } from '../routing.service';
import { claimIdempotencyKeys } from './idempotency-keys';
import { accepted, IngestItem, IngestResult, Outcome, Parsed, Ready, Request } from './ingestion.types';
import { findRelationships } from './relationship-lookup';

export type { AcceptedTransaction, IngestItem, IngestResult } from './ingestion.types';

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
    this.outbox = transport.outbox(ROUTING_SCHEMA);
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
    const relationships = await findRelationships(this.db, requests);
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
    const { results, fresh } = await claimIdempotencyKeys(em, ready);
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
