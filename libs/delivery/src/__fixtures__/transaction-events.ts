import { EventData, EventOf, EventType, makeEvent } from '@waybill/contracts';
import type { TransactionEvent } from '../transaction-status';

/** Event builders for the fold's specs: one transaction, its deliveries (generations), times one second apart. */


export const ORG = 'org_1';
export const TX = 'tx_1';
export const CH = 'ch_1';
export const CH2 = 'ch_2';
export const D1 = 'dl_1';
export const D2 = 'dl_2';
export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const time = (s: number) => new Date(T0 + s * 1_000).toISOString();

export type TxEvent = TransactionEvent;

let sequence = 0;
export function event<T extends EventType>(type: T, data: EventData<T>, at: number): EventOf<T> {
  const eventId = `00000000-0000-7000-8000-${(++sequence).toString(16).padStart(12, '0')}`;
  return makeEvent(type, { eventId, occurredAt: time(at), orgId: ORG, key: TX, data });
}

export const received = (at = 0, channelId = CH) =>
  event(
    'transaction.received.v1',
    {
      id: TX,
      relationshipId: 'rel_1',
      senderId: 'acme',
      receiverId: 'globex',
      transactionType: '850',
      businessNumber: 'PO-1',
      stream: 'LIVE',
      createdAt: time(0),
      channelId,
      format: 'JSON',
      payloadBytes: 42,
    },
    at,
  );
/** What routing sends now: the header and the first delivery in one event. */
export const receivedV2 = (at = 0, channelId = CH) => {
  const v1 = received(at, channelId);
  return event('transaction.received.v2', { ...v1.data, deliveryId: D1, generation: 1 }, at);
};
export const routed = (at = 0, generation = 1, deliveryId = D1, channelId = CH) =>
  event('transaction.routed.v1', { transactionId: TX, channelId, deliveryId, generation }, at);
export const attempted = (at: number, attempt: number, statusCode: number | null, outcome: EventData<'delivery.attempted.v1'>['outcome'], deliveryId = D1) =>
  event(
    'delivery.attempted.v1',
    {
      transactionId: TX,
      deliveryId,
      channelId: CH,
      attempt,
      at: time(at),
      statusCode,
      outcome,
      durationMs: 12,
      error: statusCode === null ? 'ECONNRESET' : null,
      responseExcerpt: null,
    },
    at,
  );
export const started = (at: number, attempt = 1, deliveryId = D1) =>
  event('delivery.started.v1', { transactionId: TX, deliveryId, channelId: CH, attempt, at: time(at) }, at);
export const retryScheduled = (at: number, attempt: number, dueAt: number, deliveryId = D1) =>
  event('delivery.retry-scheduled.v1', { transactionId: TX, deliveryId, attempt, dueAt: time(dueAt) }, at);
export const deferred = (at: number, until: number | null, deliveryId = D1) =>
  event('delivery.deferred.v1', { transactionId: TX, deliveryId, reason: 'CIRCUIT_OPEN', until: until === null ? null : time(until) }, at);
export const accepted = (at: number, deliveryId: string | null = D1, by: 'PARTNER' | 'API' | 'PULL' = 'PARTNER') =>
  event('transaction.accepted.v1', { transactionId: TX, deliveryId, by }, at);
export const dispatched = (at: number, deliveryId = D1) => event('transaction.dispatched.v1', { transactionId: TX, deliveryId }, at);
export const rejected = (at: number, deliveryId = D1) => event('transaction.rejected.v1', { transactionId: TX, deliveryId, statusCode: 400 }, at);
export const failed = (at: number, deliveryId = D1, reason = 'the partner answered 404') =>
  event('transaction.failed.v1', { transactionId: TX, deliveryId, reason }, at);
/** A redelivery request names the generation it supersedes (as `POST …/redeliver` publishes it). */
export const redeliveryRequested = (at: number, generation = 1) =>
  event('transaction.redelivery-requested.v1', { transactionId: TX, requestedAt: time(at), generation }, at);
