import type { AttemptOutcome } from '@waybill/contracts';
import type { WaitReason } from '@waybill/delivery';
import { eventMessage, OutgoingMessage } from '@waybill/messaging';
import type { Delivery } from './work';

/** The events the dispatcher publishes about deliveries, keyed by transaction (or, for alerts, channel). */

export interface AttemptRecord {
  attempt: number;
  at: Date;
  statusCode: number | null;
  outcome: AttemptOutcome;
  durationMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

export function attempted(d: Delivery, a: AttemptRecord, now: Date): OutgoingMessage {
  const r = d.request;
  return eventMessage(
    'delivery.attempted.v1',
    {
      orgId: d.orgId,
      key: r.transactionId,
      data: {
        transactionId: r.transactionId,
        deliveryId: r.deliveryId,
        channelId: r.channelId,
        attempt: a.attempt,
        at: a.at.toISOString(),
        statusCode: a.statusCode,
        outcome: a.outcome,
        durationMs: a.durationMs,
        error: a.error,
        responseExcerpt: a.responseExcerpt,
      },
    },
    now,
  );
}

/** An attempt under way for a while (a slow request, a pull lease): the status shows SENDING. */
export function started(d: Delivery, attempt: number, at: Date, now: Date): OutgoingMessage {
  const r = d.request;
  return eventMessage(
    'delivery.started.v1',
    { orgId: d.orgId, key: r.transactionId, data: { transactionId: r.transactionId, deliveryId: r.deliveryId, channelId: r.channelId, attempt, at: at.toISOString() } },
    now,
  );
}

export function accepted(d: Delivery, by: 'PARTNER' | 'PULL', now: Date): OutgoingMessage {
  return eventMessage('transaction.accepted.v1', { orgId: d.orgId, key: d.request.transactionId, data: { ...ids(d), by } }, now);
}

export function dispatched(d: Delivery, now: Date): OutgoingMessage {
  return eventMessage('transaction.dispatched.v1', { orgId: d.orgId, key: d.request.transactionId, data: ids(d) }, now);
}

export function rejected(d: Delivery, statusCode: number | null, now: Date): OutgoingMessage {
  return eventMessage('transaction.rejected.v1', { orgId: d.orgId, key: d.request.transactionId, data: { ...ids(d), statusCode } }, now);
}

export function failed(d: Delivery, reason: string, now: Date): OutgoingMessage {
  return eventMessage('transaction.failed.v1', { orgId: d.orgId, key: d.request.transactionId, data: { ...ids(d), reason } }, now);
}

export function retryScheduled(d: Delivery, attempt: number, dueAt: Date, now: Date): OutgoingMessage {
  return eventMessage(
    'delivery.retry-scheduled.v1',
    { orgId: d.orgId, key: d.request.transactionId, data: { ...ids(d), attempt, dueAt: dueAt.toISOString() } },
    now,
  );
}

export function deferred(d: Delivery, reason: WaitReason, until: Date | null, now: Date): OutgoingMessage {
  return eventMessage(
    'delivery.deferred.v1',
    { orgId: d.orgId, key: d.request.transactionId, data: { ...ids(d), reason, until: until ? until.toISOString() : null } },
    now,
  );
}

/** The alert of a delivery whose retry policy is spent (`waybill.alerts`, keyed by channel). */
export function exhausted(d: Delivery, attempts: number, lastError: string | null, now: Date): OutgoingMessage {
  return eventMessage(
    'delivery.exhausted.v1',
    {
      orgId: d.orgId,
      key: d.request.channelId,
      data: { channelId: d.request.channelId, ...ids(d), attempts, at: now.toISOString(), lastError },
    },
    now,
  );
}

/** FAILED because the retry policy is spent: the terminal event and the `delivery.exhausted` alert. */
export function spent(d: Delivery, reason: string, attempts: number, lastError: string | null, now: Date): OutgoingMessage[] {
  return [failed(d, reason, now), exhausted(d, attempts, lastError, now)];
}

/** A channel's circuit opened (`waybill.alerts`, keyed by channel). */
export function circuitOpened(orgId: string, channelId: string, at: Date, reason: string): OutgoingMessage {
  return eventMessage('channel.circuit-opened.v1', { orgId, key: channelId, data: { channelId, at: at.toISOString(), reason } }, at);
}

/** A channel's circuit closed again (`waybill.alerts`, keyed by channel). */
export function circuitClosed(orgId: string, channelId: string, at: Date): OutgoingMessage {
  return eventMessage('channel.circuit-closed.v1', { orgId, key: channelId, data: { channelId, at: at.toISOString() } }, at);
}

function ids(d: Delivery): { transactionId: string; deliveryId: string } {
  return { transactionId: d.request.transactionId, deliveryId: d.request.deliveryId };
}
