import { Client } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { ChannelState, DeliveryRequest, payloadTextOf } from '@waybill/contracts';
import { nextRetry } from '@waybill/delivery';
import { delay, Outbox, OutgoingMessage, Signal } from '@waybill/messaging';
import { CONTENT_TYPES } from '../domain/partner-request';
import * as ev from './engine/delivery-events';
import type { Delivery } from './engine/work';

const NOTIFY_CHANNEL = 'waybill_pull';
/** A long poll looks again at least this often, even without a notification (a lost LISTEN connection) (ms). */
const RECHECK_MS = 5_000;
/** Expired leases handled in one pass. */
const SWEEP_BATCH = 500;
/** Finished messages are kept this long, so that a repeated ack or nack answers the same (ms). */
const KEEP_FINISHED_MS = 24 * 3_600_000;
const PURGE_EVERY_MS = 10 * 60_000;

export type PullState = 'QUEUED' | 'ACCEPTED' | 'REJECTED' | 'FAILED';

/** A leased message as `GET /v1/channels/{id}/messages` returns it: the envelope a push carries, and its lease. */
export interface PullMessage {
  deliveryId: string;
  transactionId: string;
  /** This lease's number: each lease counts as an attempt. */
  attempt: number;
  leaseExpiresAt: string;
  format: DeliveryRequest['format'];
  contentType: string;
  id: string;
  relationshipId: string;
  senderId: string;
  receiverId: string;
  transactionType: string;
  businessNumber: string | null;
  stream: 'LIVE' | 'TEST';
  createdAt: string;
  delivery: { id: string; attempt: number };
  /**
   * The payload as it was sent: JSON text (JSON channels; the API answer embeds it as it is) or
   * the document (XML, X12; a string in the answer). See `pullMessagesJson`.
   */
  payloadText: string;
}

/**
 * `GET …/messages`'s answer: `{ data: [ …messages ] }` as JSON text, each JSON payload spliced in
 * as the text it was sent as (never re-serialised: numbers of any size and precision, every escape).
 */
export function pullMessagesJson(messages: readonly PullMessage[]): string {
  const items = messages.map(({ payloadText, ...rest }) => {
    const head = JSON.stringify(rest);
    return `${head.slice(0, -1)},"payload":${rest.format === 'JSON' ? payloadText : JSON.stringify(payloadText)}}`;
  });
  return `{"data":[${items.join(',')}]}`;
}

/** A queued message as `GET …/messages/pending` shows it: who and what, not the payload. */
export interface PeekedMessage {
  deliveryId: string;
  transactionId: string;
  senderId: string;
  receiverId: string;
  transactionType: string;
  businessNumber: string | null;
  format: DeliveryRequest['format'];
  /** Leases so far (each an attempt). */
  attempts: number;
  queuedAt: string;
  leasedUntil: string | null;
}

export interface AckResult {
  deliveryId: string;
  /** The message's state after the call; NOT_FOUND for an id the channel never had (or purged). */
  status: PullState | 'NOT_FOUND';
}

interface MessageRow {
  delivery_id: string;
  org_id: string;
  channel_id: string;
  request: DeliveryRequest;
  state: PullState;
  attempts: number;
  first_seen_at: Date;
  leased_until: Date | null;
}

/**
 * The lease queue of PULL channels (`pull_messages`). Deliveries wait there until the partner
 * leases them (`GET …/messages`, a long poll woken by LISTEN/NOTIFY); each lease is an attempt. An
 * ack accepts, a nack puts back (or rejects), a lease not acknowledged within the channel's
 * visibility timeout comes back by itself, and the channel's retry policy ends it in FAILED.
 * Every state change and its events are one transaction (events through the outbox).
 */
export class PullQueue {
  private listener: Client | null = null;
  private readonly waiters = new Map<string, { signal: Signal; count: number }>();
  private readonly sweepWake = new Signal();
  private sweeper: Promise<void> | null = null;
  private closed = false;
  private lastPurge = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    private readonly databaseUrl: string,
    private readonly channels: { current(id: string): ChannelState | undefined },
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.listen();
    this.sweeper = this.sweepLoop();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.sweepWake.notify();
    for (const w of this.waiters.values()) w.signal.notify();
    await this.sweeper;
    await this.listener?.end().catch(() => undefined);
  }

  /** Long polls waiting for messages now, across channels. */
  polling(): number {
    let n = 0;
    for (const w of this.waiters.values()) n += w.count;
    return n;
  }

  /** Queues deliveries (once each) and wakes the channels' long polls when the transaction commits. */
  async enqueue(deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.ds.query(
      `WITH ins AS (
         INSERT INTO pull_messages (delivery_id, channel_id, org_id, request, first_seen_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
         ON CONFLICT (delivery_id) DO NOTHING RETURNING channel_id)
       SELECT pg_notify('${NOTIFY_CHANNEL}', c) FROM (SELECT DISTINCT channel_id AS c FROM ins) d`,
      [
        deliveries.map((d) => d.request.deliveryId),
        deliveries.map((d) => d.request.channelId),
        deliveries.map((d) => d.orgId),
        deliveries.map((d) => JSON.stringify(d.request)),
        deliveries.map((d) => d.firstSeenAt),
      ],
    );
  }

  /**
   * Leases up to `limit` waiting messages of the channel, in order; with none waiting, waits up to
   * `waitMs` for some (woken by new messages and by leases running out).
   */
  async lease(channel: ChannelState, limit: number, waitMs: number, abort?: AbortSignal): Promise<PullMessage[]> {
    const deadline = Date.now() + waitMs;
    const waiter = this.waiterFor(channel.id);
    try {
      for (;;) {
        const { messages, nextExpiry } = await this.leaseOnce(channel, limit);
        const left = deadline - Date.now();
        if (messages.length > 0 || left <= 0 || this.closed || abort?.aborted) return messages;
        const untilExpiry = nextExpiry === null ? RECHECK_MS : Math.max(10, nextExpiry - Date.now());
        await waiter.signal.wait(Math.min(left, untilExpiry, RECHECK_MS));
      }
    } finally {
      if (--waiter.count === 0) this.waiters.delete(channel.id);
    }
  }

  /** Accepts the messages (idempotent: an accepted one stays accepted). */
  async ack(channel: ChannelState, deliveryIds: string[]): Promise<AckResult[]> {
    return this.change(channel, deliveryIds, (row, now) => {
      if (row.state !== 'QUEUED') return null;
      const d = deliveryOf(row);
      const attempt = Math.max(1, row.attempts);
      return {
        state: 'ACCEPTED',
        events: [ev.attempted(d, record(attempt, now, 'ACCEPTED', null), now), ev.accepted(d, 'PULL', now)],
      };
    });
  }

  /**
   * Puts leased messages back in the queue (an attempt spent: the retry policy may end them
   * FAILED), or rejects them (REJECTED). A message not leased stays as it is.
   */
  async nack(channel: ChannelState, deliveryIds: string[], reject: boolean): Promise<AckResult[]> {
    return this.change(channel, deliveryIds, (row, now) => {
      if (row.state !== 'QUEUED') return null;
      const d = deliveryOf(row);
      const attempt = Math.max(1, row.attempts);
      if (reject) {
        return { state: 'REJECTED', events: [ev.attempted(d, record(attempt, now, 'REJECTED', 'rejected by the partner'), now), ev.rejected(d, null, now)] };
      }
      if (row.leased_until === null) return null;
      return this.returned(row, now, 'negatively acknowledged by the partner');
    });
  }

  /** What a PULL channel's health shows: messages waiting, and leased. */
  /**
   * The channel's queued messages, oldest first, without leasing them (no attempt made or spent):
   * what an operator looks at. `leasedUntil` is set for a message a partner holds now.
   */
  async peek(channelId: string, limit: number): Promise<PeekedMessage[]> {
    const rows: MessageRow[] = await this.ds.query(
      `SELECT delivery_id, org_id, channel_id, request, state, attempts, first_seen_at, leased_until
         FROM pull_messages WHERE channel_id = $1 AND state = 'QUEUED' ORDER BY seq LIMIT $2`,
      [channelId, limit],
    );
    return rows.map((r) => ({
      deliveryId: r.delivery_id,
      transactionId: r.request.transactionId,
      senderId: r.request.transaction.senderId,
      receiverId: r.request.transaction.receiverId,
      transactionType: r.request.transaction.transactionType,
      businessNumber: r.request.transaction.businessNumber,
      format: r.request.format,
      attempts: r.attempts,
      queuedAt: r.first_seen_at.toISOString(),
      leasedUntil: r.leased_until?.toISOString() ?? null,
    }));
  }

  async counts(channelId: string): Promise<{ waiting: number; leased: number }> {
    const [r]: { waiting: number; leased: number }[] = await this.ds.query(
      `SELECT count(*) FILTER (WHERE leased_until IS NULL)::int AS waiting, count(*) FILTER (WHERE leased_until IS NOT NULL)::int AS leased
         FROM pull_messages WHERE channel_id = $1 AND state = 'QUEUED'`,
      [channelId],
    );
    return r;
  }

  private async leaseOnce(channel: ChannelState, limit: number): Promise<{ messages: PullMessage[]; nextExpiry: number | null }> {
    let expired = 0;
    const leased = await this.ds.transaction(async (em) => {
      expired = await this.expireLeases(em, channel.id);
      const [rows]: [(MessageRow & { seq: string })[], number] = await em.query(
        `UPDATE pull_messages SET attempts = attempts + 1, leased_until = now() + make_interval(secs => $3 / 1000.0)
          WHERE delivery_id IN (
            SELECT delivery_id FROM pull_messages
             WHERE channel_id = $1 AND state = 'QUEUED' AND leased_until IS NULL
             ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
          RETURNING delivery_id, org_id, channel_id, request, state, attempts, first_seen_at, leased_until, seq`,
        [channel.id, limit, channel.visibilityTimeoutMs],
      );
      const [{ next }]: { next: Date | null }[] = await em.query(
        `SELECT min(leased_until) AS next FROM pull_messages WHERE channel_id = $1 AND state = 'QUEUED' AND leased_until IS NOT NULL`,
        [channel.id],
      );
      if (rows.length > 0) {
        this.sweepWake.notify(); // a lease that will need sweeping if never acknowledged
        // Each lease is an attempt under way: its transaction shows SENDING until it is acknowledged.
        const now = new Date();
        await this.outbox.append(em, rows.map((r) => ev.started(deliveryOf(r), r.attempts, now, now)));
      }
      rows.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
      return { messages: rows.map(toMessage), nextExpiry: next ? next.getTime() : null };
    });
    // The events of the leases (and of those that ran out): on their way, without holding up this call.
    if (expired > 0 || leased.messages.length > 0) void this.outbox.flush().catch((err) => this.log.warn({ err }, 'pull queue: flushing expired leases failed'));
    return leased;
  }

  private async change(
    channel: ChannelState,
    deliveryIds: string[],
    decide: (row: MessageRow, now: Date) => { state: PullState | null; events: OutgoingMessage[] } | null,
  ): Promise<AckResult[]> {
    const states = await this.ds.transaction(async (em) => {
      const rows: MessageRow[] = await em.query(
        `SELECT delivery_id, org_id, channel_id, request, state, attempts, first_seen_at, leased_until
           FROM pull_messages WHERE channel_id = $1 AND delivery_id = ANY($2) ORDER BY delivery_id FOR UPDATE`,
        [channel.id, deliveryIds],
      );
      const now = new Date();
      const events: OutgoingMessage[] = [];
      const after = new Map<string, PullState>();
      for (const row of rows) {
        const change = decide(row, now);
        after.set(row.delivery_id, change?.state ?? row.state);
        if (!change) continue;
        events.push(...change.events);
        await this.apply(em, row.delivery_id, change.state);
      }
      await this.outbox.append(em, events);
      return after;
    });
    await this.outbox.flush();
    return deliveryIds.map((id) => ({ deliveryId: id, status: states.get(id) ?? 'NOT_FOUND' }));
  }

  /** A lease that ended without an ack: back in the queue, or FAILED when the retry policy is spent. */
  private returned(row: MessageRow, now: Date, why: string): { state: PullState | null; events: OutgoingMessage[] } {
    const d = deliveryOf(row);
    const attempt = Math.max(1, row.attempts);
    const events = [ev.attempted(d, record(attempt, now, 'RETRYABLE', why), now)];
    const channel = this.channels.current(row.channel_id);
    const decision = channel
      ? nextRetry(channel.retryPolicy, { attempt, firstAttemptAt: row.first_seen_at, now, retryAfterMs: null, random: 0 })
      : { retry: false as const, reason: 'the channel no longer exists' };
    if (decision.retry) return { state: null, events };
    events.push(...ev.spent(d, `${decision.reason}; last: ${why}`, attempt, why, now));
    return { state: 'FAILED', events };
  }

  /** `state` null: back in the queue (lease ended). */
  private async apply(em: EntityManager, deliveryId: string, state: PullState | null): Promise<void> {
    if (state === null) await em.query('UPDATE pull_messages SET leased_until = NULL WHERE delivery_id = $1', [deliveryId]);
    else await em.query('UPDATE pull_messages SET state = $2, leased_until = NULL, finished_at = now() WHERE delivery_id = $1', [deliveryId, state]);
  }

  /** Leases that ran out (of one channel, or all): each an attempt spent; back in the queue or FAILED. */
  private async expireLeases(em: EntityManager, channelId: string | null): Promise<number> {
    const rows: MessageRow[] = await em.query(
      `SELECT delivery_id, org_id, channel_id, request, state, attempts, first_seen_at, leased_until
         FROM pull_messages
        WHERE state = 'QUEUED' AND leased_until <= now() ${channelId ? 'AND channel_id = $2' : ''}
        ORDER BY leased_until LIMIT $1 FOR UPDATE SKIP LOCKED`,
      channelId ? [SWEEP_BATCH, channelId] : [SWEEP_BATCH],
    );
    if (rows.length === 0) return 0;
    const now = new Date();
    const events: OutgoingMessage[] = [];
    for (const row of rows) {
      const timeout = this.channels.current(row.channel_id)?.visibilityTimeoutMs;
      const change = this.returned(row, now, `not acknowledged within the visibility timeout${timeout ? ` (${timeout} ms)` : ''}`);
      events.push(...change.events);
      await this.apply(em, row.delivery_id, change.state);
    }
    await this.outbox.append(em, events);
    // A message back in the queue: wake the channel's long polls.
    for (const c of new Set(rows.map((r) => r.channel_id))) this.waiters.get(c)?.signal.notify();
    return rows.length;
  }

  private async sweepLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        const swept = await this.ds.transaction((em) => this.expireLeases(em, null));
        if (swept > 0) await this.outbox.flush();
        failures = 0;
        if (swept === SWEEP_BATCH) continue;
        if (Date.now() - this.lastPurge > PURGE_EVERY_MS) {
          this.lastPurge = Date.now();
          await this.ds.query(`DELETE FROM pull_messages WHERE state <> 'QUEUED' AND finished_at < now() - make_interval(secs => $1 / 1000.0)`, [KEEP_FINISHED_MS]);
        }
        const [{ next }]: { next: Date | null }[] = await this.ds.query(
          `SELECT min(leased_until) AS next FROM pull_messages WHERE state = 'QUEUED' AND leased_until IS NOT NULL`,
        );
        await this.sweepWake.wait(next ? Math.min(RECHECK_MS, Math.max(10, next.getTime() - Date.now())) : RECHECK_MS);
      } catch (err) {
        if (this.closed) break;
        failures++;
        this.log.warn({ err }, 'pull queue: sweeping expired leases failed; will try again');
        await delay(Math.min(5_000, 100 * 2 ** failures));
      }
    }
  }

  private waiterFor(channelId: string): { signal: Signal; count: number } {
    let w = this.waiters.get(channelId);
    if (!w) {
      w = { signal: new Signal(), count: 0 };
      this.waiters.set(channelId, w);
    }
    w.count++;
    return w;
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'waybill-dispatcher-pull' });
    client.on('notification', (n) => {
      if (n.payload) this.waiters.get(n.payload)?.signal.notify();
    });
    client.on('error', (err) => {
      if (this.closed) return;
      this.log.warn({ err }, 'pull queue: LISTEN connection lost; reconnecting (long polls recheck meanwhile)');
      this.listener = null;
      void this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    this.listener = client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.listen();
        for (const w of this.waiters.values()) w.signal.notify();
        return;
      } catch (err) {
        this.log.warn({ err }, 'pull queue: LISTEN reconnect failed');
        await delay(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }
}

function deliveryOf(row: MessageRow): Delivery {
  return { orgId: row.org_id, request: row.request, partition: 0, firstSeenAt: row.first_seen_at };
}

function record(attempt: number, at: Date, outcome: ev.AttemptRecord['outcome'], error: string | null): ev.AttemptRecord {
  return { attempt, at, statusCode: null, outcome, durationMs: 0, error, responseExcerpt: null };
}

function toMessage(row: MessageRow): PullMessage {
  const r = row.request;
  const t = r.transaction;
  return {
    deliveryId: r.deliveryId,
    transactionId: r.transactionId,
    attempt: row.attempts,
    leaseExpiresAt: (row.leased_until as Date).toISOString(),
    format: r.format,
    contentType: CONTENT_TYPES[r.format],
    id: t.id,
    relationshipId: t.relationshipId,
    senderId: t.senderId,
    receiverId: t.receiverId,
    transactionType: t.transactionType,
    businessNumber: t.businessNumber,
    stream: t.stream,
    createdAt: t.createdAt,
    delivery: { id: r.deliveryId, attempt: row.attempts },
    payloadText: payloadTextOf(r),
  };
}
