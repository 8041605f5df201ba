import { ChannelState, CONTENT_TYPES, DeliveryRequest, EnvelopeHead, envelopeHead, payloadTextOf } from '@waybill/contracts';
import { nextRetry } from '@waybill/delivery';
import type { OutgoingMessage } from '@waybill/messaging';
import * as ev from '../engine/delivery-events';
import type { Delivery } from '../engine/work';

/*
 * The pull queue's shapes and rules, without I/O: a message as leased and as peeked, the answer of
 * an ack, a row of `pull_messages`, and what a lease that ended without an ack comes to.
 */

export type PullState = 'QUEUED' | 'ACCEPTED' | 'REJECTED' | 'FAILED';

/** A leased message as `GET /v1/channels/{id}/messages` returns it: the envelope a push carries, and its lease. */
export interface PullMessage extends EnvelopeHead<{ id: string; attempt: number }> {
  deliveryId: string;
  transactionId: string;
  /** This lease's number: each lease counts as an attempt. */
  attempt: number;
  leaseExpiresAt: string;
  format: DeliveryRequest['format'];
  contentType: string;
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

export interface MessageRow {
  delivery_id: string;
  org_id: string;
  channel_id: string;
  request: DeliveryRequest;
  state: PullState;
  attempts: number;
  first_seen_at: Date;
  leased_until: Date | null;
}

/** A change of a message's state: `state` null puts it back in the queue; its events go with it. */
export interface PullChange {
  state: PullState | null;
  events: OutgoingMessage[];
}

/**
 * A lease that ended without an ack (nacked, or run out): an attempt spent; back in the queue, or
 * FAILED when the channel's retry policy is spent (or the channel is gone).
 */
export function leaseEnded(row: MessageRow, channel: ChannelState | undefined, now: Date, why: string): PullChange {
  const d = deliveryOf(row);
  const attempt = Math.max(1, row.attempts);
  const events = [ev.attempted(d, record(attempt, now, 'RETRYABLE', why), now)];
  const decision = channel
    ? nextRetry(channel.retryPolicy, { attempt, firstAttemptAt: row.first_seen_at, now, retryAfterMs: null, random: 0 })
    : { retry: false as const, reason: 'the channel no longer exists' };
  if (decision.retry) return { state: null, events };
  events.push(...ev.spent(d, `${decision.reason}; last: ${why}`, attempt, why, now));
  return { state: 'FAILED', events };
}

/** An ack of a queued message: ACCEPTED (one already finished stays as it is: null). */
export function acked(row: MessageRow, now: Date): PullChange | null {
  if (row.state !== 'QUEUED') return null;
  const d = deliveryOf(row);
  const attempt = Math.max(1, row.attempts);
  return { state: 'ACCEPTED', events: [ev.attempted(d, record(attempt, now, 'ACCEPTED', null), now), ev.accepted(d, 'PULL', now)] };
}

/** A nack: REJECTED when `reject`, else back in the queue as a lease ended; a message not leased (or finished) stays. */
export function nacked(row: MessageRow, channel: ChannelState | undefined, now: Date, reject: boolean): PullChange | null {
  if (row.state !== 'QUEUED') return null;
  if (reject) {
    const d = deliveryOf(row);
    const attempt = Math.max(1, row.attempts);
    return { state: 'REJECTED', events: [ev.attempted(d, record(attempt, now, 'REJECTED', 'rejected by the partner'), now), ev.rejected(d, null, now)] };
  }
  if (row.leased_until === null) return null;
  return leaseEnded(row, channel, now, 'negatively acknowledged by the partner');
}

export function deliveryOf(row: MessageRow): Delivery {
  return { orgId: row.org_id, request: row.request, partition: 0, firstSeenAt: row.first_seen_at };
}

function record(attempt: number, at: Date, outcome: ev.AttemptRecord['outcome'], error: string | null): ev.AttemptRecord {
  return { attempt, at, statusCode: null, outcome, durationMs: 0, error, responseExcerpt: null };
}

export function toMessage(row: MessageRow): PullMessage {
  const r = row.request;
  return {
    deliveryId: r.deliveryId,
    transactionId: r.transactionId,
    attempt: row.attempts,
    leaseExpiresAt: (row.leased_until as Date).toISOString(),
    format: r.format,
    contentType: CONTENT_TYPES[r.format],
    ...envelopeHead(r.transaction, { id: r.deliveryId, attempt: row.attempts }),
    payloadText: payloadTextOf(r),
  };
}
