import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import type { ChannelState } from '@waybill/contracts';
import { delay, Outbox, OutgoingMessage, Signal } from '@waybill/messaging';
import * as ev from '../engine/delivery-events';
import type { Delivery } from '../engine/work';
import { acked, AckResult, deliveryOf, leaseEnded, MessageRow, nacked, PeekedMessage, PullChange, PullMessage, PullState, toMessage } from './pull-messages';
import { PULL_NOTIFY_CHANNEL, PullWakeups } from './pull-wakeups';

/** A long poll looks again at least this often, even without a notification (a lost LISTEN connection) (ms). */
const RECHECK_MS = 5_000;
/** Expired leases handled in one pass. */
const SWEEP_BATCH = 500;
/** Finished messages are kept this long, so that a repeated ack or nack answers the same (ms). */
const KEEP_FINISHED_MS = 24 * 3_600_000;
const PURGE_EVERY_MS = 10 * 60_000;

/**
 * The lease queue of PULL channels (`pull_messages`). Deliveries wait there until the partner
 * leases them (`GET …/messages`, a long poll woken by LISTEN/NOTIFY); each lease is an attempt. An
 * ack accepts, a nack puts back (or rejects), a lease not acknowledged within the channel's
 * visibility timeout comes back by itself, and the channel's retry policy ends it in FAILED.
 * Every state change and its events are one transaction (events through the outbox).
 */
export class PullQueue {
  private readonly wakeups: PullWakeups;
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
  ) {
    this.wakeups = new PullWakeups(databaseUrl, log);
  }

  async start(): Promise<void> {
    await this.wakeups.start();
    this.sweeper = this.sweepLoop();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.sweepWake.notify();
    await this.wakeups.stop();
    await this.sweeper;
  }

  /** Long polls waiting for messages now, across channels. */
  polling(): number {
    return this.wakeups.polling();
  }

  /** Queues deliveries (once each) and wakes the channels' long polls when the transaction commits. */
  async enqueue(deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.ds.query(
      `WITH ins AS (
         INSERT INTO pull_messages (delivery_id, channel_id, org_id, request, first_seen_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
         ON CONFLICT (delivery_id) DO NOTHING RETURNING channel_id)
       SELECT pg_notify('${PULL_NOTIFY_CHANNEL}', c) FROM (SELECT DISTINCT channel_id AS c FROM ins) d`,
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
    return this.wakeups.waiting(channel.id, async (wait) => {
      for (;;) {
        const { messages, nextExpiry } = await this.leaseOnce(channel, limit);
        const left = deadline - Date.now();
        if (messages.length > 0 || left <= 0 || this.closed || abort?.aborted) return messages;
        const untilExpiry = nextExpiry === null ? RECHECK_MS : Math.max(10, nextExpiry - Date.now());
        await wait(Math.min(left, untilExpiry, RECHECK_MS));
      }
    });
  }

  /** Accepts the messages (idempotent: an accepted one stays accepted). */
  async ack(channel: ChannelState, deliveryIds: string[]): Promise<AckResult[]> {
    return this.change(channel, deliveryIds, acked);
  }

  /**
   * Puts leased messages back in the queue (an attempt spent: the retry policy may end them
   * FAILED), or rejects them (REJECTED). A message not leased stays as it is.
   */
  async nack(channel: ChannelState, deliveryIds: string[], reject: boolean): Promise<AckResult[]> {
    return this.change(channel, deliveryIds, (row, now) => nacked(row, channel, now, reject));
  }

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

  /** What a PULL channel's health shows: messages waiting, and leased. */
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
    decide: (row: MessageRow, now: Date) => PullChange | null,
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
      const change = leaseEnded(row, this.channels.current(row.channel_id), now, `not acknowledged within the visibility timeout${timeout ? ` (${timeout} ms)` : ''}`);
      events.push(...change.events);
      await this.apply(em, row.delivery_id, change.state);
    }
    await this.outbox.append(em, events);
    // A message back in the queue: wake the channel's long polls.
    this.wakeups.wake(new Set(rows.map((r) => r.channel_id)));
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
}
