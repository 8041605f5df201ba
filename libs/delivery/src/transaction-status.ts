import type { AttemptOutcome, EventOf, WaybillEvent } from '@waybill/contracts';

export type TransactionStatus = 'PENDING' | 'SENDING' | 'ACCEPTED' | 'DISPATCHED' | 'REJECTED' | 'FAILED';

export interface Attempt {
  eventId: string;
  deliveryId: string;
  attempt: number;
  at: string;
  statusCode: number | null;
  outcome: AttemptOutcome;
  durationMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

/** The read model of one transaction, folded from its events. */
export interface TransactionView {
  id: string;
  orgId: string;
  /** Unknown until `transaction.received` is read (an attempt may be read first). */
  relationshipId: string | null;
  channelId: string | null;
  businessNumber: string | null;
  stream: 'LIVE' | 'TEST' | null;
  createdAt: string | null;
  status: TransactionStatus;
  /** The delivery (generation) the status speaks of. */
  deliveryId: string | null;
  generation: number;
  nextAttemptAt: string | null;
  updatedAt: string;
}

type TransactionEvent = Extract<
  WaybillEvent,
  {
    type:
      | 'transaction.received.v1'
      | 'transaction.routed.v1'
      | 'delivery.attempted.v1'
      | 'delivery.retry-scheduled.v1'
      | 'delivery.deferred.v1'
      | 'transaction.accepted.v1'
      | 'transaction.dispatched.v1'
      | 'transaction.rejected.v1'
      | 'transaction.failed.v1'
      | 'transaction.redelivery-requested.v1';
  }
>;

export function isTransactionEvent(e: WaybillEvent): e is TransactionEvent {
  return e.type.startsWith('transaction.') || e.type.startsWith('delivery.') && e.type !== 'delivery.requested.v1' && e.type !== 'delivery.exhausted.v1';
}

const FINAL: ReadonlySet<TransactionStatus> = new Set(['ACCEPTED', 'REJECTED', 'FAILED']);

export function initialView(id: string, orgId: string, at: string): TransactionView {
  return {
    id,
    orgId,
    relationshipId: null,
    channelId: null,
    businessNumber: null,
    stream: null,
    createdAt: null,
    status: 'PENDING',
    deliveryId: null,
    generation: 0,
    nextAttemptAt: null,
    updatedAt: at,
  };
}

/** Folds one event into the view. Pure: time and ids come from the event. */
export function evolve(view: TransactionView, event: TransactionEvent): TransactionView {
  const v = { ...view, updatedAt: event.occurredAt };
  switch (event.type) {
    case 'transaction.received.v1': {
      const d = event.data;
      return { ...v, relationshipId: d.relationshipId, channelId: v.channelId ?? d.channelId, businessNumber: d.businessNumber, stream: d.stream, createdAt: d.createdAt };
    }
    case 'transaction.routed.v1': {
      const d = event.data;
      if (d.generation < v.generation) return v;
      if (d.generation === v.generation) return { ...v, channelId: d.channelId, deliveryId: d.deliveryId };
      return { ...v, channelId: d.channelId, deliveryId: d.deliveryId, generation: d.generation, status: 'PENDING', nextAttemptAt: null };
    }
    case 'delivery.attempted.v1':
      return attempted(v, event);
    case 'delivery.retry-scheduled.v1':
      if (!isCurrent(v, event.data.deliveryId) || FINAL.has(v.status) || v.status === 'DISPATCHED') return v;
      return { ...v, status: 'SENDING', nextAttemptAt: event.data.dueAt };
    case 'delivery.deferred.v1':
      if (!isCurrent(v, event.data.deliveryId) || FINAL.has(v.status) || v.status === 'DISPATCHED') return v;
      return { ...v, status: 'SENDING', nextAttemptAt: event.data.until };
    case 'transaction.accepted.v1':
      if (event.data.deliveryId !== null && !isCurrent(v, event.data.deliveryId)) return v;
      return { ...v, status: 'ACCEPTED', nextAttemptAt: null };
    case 'transaction.dispatched.v1':
      if (!isCurrent(v, event.data.deliveryId) || FINAL.has(v.status)) return v;
      return { ...v, status: 'DISPATCHED', nextAttemptAt: null };
    case 'transaction.rejected.v1':
      if (!isCurrent(v, event.data.deliveryId)) return v;
      return { ...v, status: 'REJECTED', nextAttemptAt: null };
    case 'transaction.failed.v1':
      if (!isCurrent(v, event.data.deliveryId) || v.status === 'ACCEPTED' || v.status === 'REJECTED') return v;
      return { ...v, status: 'FAILED', nextAttemptAt: null };
    case 'transaction.redelivery-requested.v1':
      return v;
    default:
      return assertNever(event);
  }
}

/** An attempt's own record lives beside the view (see `attemptOf`); here it moves the status only. */
function attempted(v: TransactionView, event: EventOf<'delivery.attempted.v1'>): TransactionView {
  const d = event.data;
  if (isCurrent(v, d.deliveryId) && d.outcome === 'RETRYABLE' && !FINAL.has(v.status) && v.status !== 'DISPATCHED') {
    return { ...v, status: 'SENDING' };
  }
  return v;
}

/** The attempt an event records, as `GET /v1/transactions/{id}` lists it. */
export function attemptOf(event: EventOf<'delivery.attempted.v1'>): Attempt {
  const d = event.data;
  return {
    eventId: event.eventId,
    deliveryId: d.deliveryId,
    attempt: d.attempt,
    at: d.at,
    statusCode: d.statusCode,
    outcome: d.outcome,
    durationMs: d.durationMs,
    error: d.error,
    responseExcerpt: d.responseExcerpt,
  };
}

/** An event speaks of the current delivery, or of the only one known so far. */
function isCurrent(v: TransactionView, deliveryId: string | null): boolean {
  return v.deliveryId === null || deliveryId === null || v.deliveryId === deliveryId;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
