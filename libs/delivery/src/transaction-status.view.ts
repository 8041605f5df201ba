import type { AttemptOutcome, EventOf } from '@waybill/contracts';
import {
  AcceptedBy,
  after,
  DeliveryFacts,
  initialFacts,
  OutcomeFact,
  Stamp,
  strongerOutcome,
  TransactionFacts,
} from './transaction-status.facts';

/**
 * The view: what the API shows of a transaction, derived from its facts alone (never stored
 * apart from them: the read model's columns are this view of the row's `facts`).
 */

/** Every status, in the order the API lists them. */
export const TRANSACTION_STATUSES = ['PENDING', 'SENDING', 'ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

/** Statuses with a delivery in flight: redelivering one of these would send the transaction twice. */
export const IN_FLIGHT: ReadonlySet<TransactionStatus> = new Set(['PENDING', 'SENDING']);

/** The read model of one transaction: what the API shows, derived from `facts`. */
export interface TransactionView {
  id: string;
  orgId: string;
  /** Unknown until `transaction.received` is read (an attempt may be read first). */
  relationshipId: string | null;
  channelId: string | null;
  senderId: string | null;
  receiverId: string | null;
  transactionType: string | null;
  businessNumber: string | null;
  stream: 'LIVE' | 'TEST' | null;
  createdAt: string | null;
  status: TransactionStatus;
  /** The delivery (generation) the status speaks of. */
  deliveryId: string | null;
  generation: number;
  nextAttemptAt: string | null;
  /** Who accepted it, when ACCEPTED. */
  acceptedBy: AcceptedBy | null;
  updatedAt: string;
  facts: TransactionFacts;
}

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

/** The state before any event. `at` is the time of the first event read (ISO 8601). */
export function initialView(id: string, orgId: string, at: string): TransactionView {
  return viewOf(id, orgId, initialFacts(at));
}

/** Derives the view of a transaction from its facts. */
export function viewOf(id: string, orgId: string, facts: TransactionFacts): TransactionView {
  const h = facts.header;
  const current = currentDelivery(facts);
  const d = current?.[1] ?? null;
  const state = statusOf(facts, d);
  const known = Object.values(facts.deliveries).map((x) => x.generation ?? 0);
  return {
    id,
    orgId,
    relationshipId: h?.relationshipId ?? null,
    channelId: d?.channelId ?? d?.attempted?.channelId ?? h?.channelId ?? null,
    senderId: h?.senderId ?? null,
    receiverId: h?.receiverId ?? null,
    transactionType: h?.transactionType ?? null,
    businessNumber: h?.businessNumber ?? null,
    stream: h?.stream ?? null,
    createdAt: h?.createdAt ?? null,
    status: state.status,
    deliveryId: current?.[0] ?? null,
    generation: d?.generation ?? Math.max(0, ...known),
    nextAttemptAt: state.status === 'SENDING' ? state.nextAttemptAt : null,
    acceptedBy: state.status === 'ACCEPTED' ? state.acceptedBy : null,
    updatedAt: new Date(facts.latest).toISOString(),
    facts,
  };
}

/**
 * The delivery the status speaks of: the highest generation. A delivery whose `routed` is not read
 * yet is taken as the newest (its attempts can only have been made after it was routed).
 */
function currentDelivery(f: TransactionFacts): [string, DeliveryFacts] | null {
  let best: [string, DeliveryFacts] | null = null;
  for (const entry of Object.entries(f.deliveries)) {
    if (!best || newer(entry, best)) best = entry;
  }
  return best;
}

function newer([aId, a]: [string, DeliveryFacts], [bId, b]: [string, DeliveryFacts]): boolean {
  const ga = a.generation ?? Number.POSITIVE_INFINITY;
  const gb = b.generation ?? Number.POSITIVE_INFINITY;
  if (ga !== gb) return ga > gb;
  if (a.first.at !== b.first.at || a.first.eventId !== b.first.eventId) return after(a.first, b.first);
  return aId > bId;
}

interface DerivedStatus {
  status: TransactionStatus;
  nextAttemptAt: string | null;
  acceptedBy: AcceptedBy | null;
}

function statusOf(f: TransactionFacts, d: DeliveryFacts | null): DerivedStatus {
  const settled = f.settled;
  // A request routing refused is no request: the status stays what it was before it.
  const refused = f.request !== null && f.refused?.requestId === f.request.stamp.eventId;
  if (f.request && !refused && (!d || supersedes(f.request, d))) {
    // A redelivery was asked for and routing has not routed it yet: PENDING, unless routing
    // answered that it cannot (an answer it can only give after reading the request).
    if (settled && settled.stamp.at >= f.request.stamp.at) return fromOutcome(settled);
    return { status: 'PENDING', nextAttemptAt: null, acceptedBy: null };
  }
  if (!d) return settled ? fromOutcome(settled) : { status: 'PENDING', nextAttemptAt: null, acceptedBy: null };
  if (settled && after(settled.stamp, d.routed ?? d.first)) {
    // A terminal event that names no delivery, given after the current one was routed.
    return fromOutcome(strongerOutcome(d.outcome, settled) as OutcomeFact);
  }
  return deliveryStatus(d);
}

function supersedes(request: { stamp: Stamp; generation: number | null }, d: DeliveryFacts): boolean {
  if (d.generation === null) return false;
  if (request.generation !== null) return request.generation >= d.generation;
  return after(request.stamp, d.routed ?? d.first);
}

function fromOutcome(o: OutcomeFact): DerivedStatus {
  return { status: o.status, nextAttemptAt: null, acceptedBy: o.status === 'ACCEPTED' ? o.by : null };
}

function deliveryStatus(d: DeliveryFacts): DerivedStatus {
  if (d.outcome) return fromOutcome(d.outcome);
  if (!d.retryable && !d.retry && !d.deferral && !d.started) return { status: 'PENDING', nextAttemptAt: null, acceptedBy: null };
  const retryDue = d.retry && d.retry.attempt > d.attempts ? d.retry.dueAt : null;
  // A deferral holds the attempt after the last one read; an attempt made since ends it.
  const deferred = d.deferral && (!d.lastAttempt || after(d.deferral.stamp, d.lastAttempt)) ? d.deferral : null;
  return { status: 'SENDING', nextAttemptAt: deferred ? (deferred.until ?? retryDue) : retryDue, acceptedBy: null };
}
