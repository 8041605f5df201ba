import type { EventOf, WaybillEvent } from '@waybill/contracts';
import {
  after,
  DeliveryFacts,
  earlier,
  initialDeliveryFacts,
  later,
  laterOf,
  OutcomeFact,
  Stamp,
  strongerOutcome,
  TransactionFacts,
} from './transaction-status.facts';
import { TransactionView, viewOf } from './transaction-status.view';

/**
 * Evolve: each event adds what it says to the facts, merged so that order and repetition do not
 * matter (see `transaction-status.facts.ts`); the view is then derived from the facts.
 */

export type TransactionEvent = Extract<
  WaybillEvent,
  {
    type:
      | 'transaction.received.v1'
      | 'transaction.received.v2'
      | 'transaction.routed.v1'
      | 'delivery.started.v1'
      | 'delivery.attempted.v1'
      | 'delivery.retry-scheduled.v1'
      | 'delivery.deferred.v1'
      | 'transaction.accepted.v1'
      | 'transaction.dispatched.v1'
      | 'transaction.rejected.v1'
      | 'transaction.failed.v1'
      | 'transaction.redelivery-requested.v1'
      | 'transaction.redelivery-refused.v1';
  }
>;

const TRANSACTION_EVENT_TYPES: ReadonlySet<string> = new Set<TransactionEvent['type']>([
  'transaction.received.v1',
  'transaction.received.v2',
  'transaction.routed.v1',
  'delivery.started.v1',
  'delivery.attempted.v1',
  'delivery.retry-scheduled.v1',
  'delivery.deferred.v1',
  'transaction.accepted.v1',
  'transaction.dispatched.v1',
  'transaction.rejected.v1',
  'transaction.failed.v1',
  'transaction.redelivery-requested.v1',
  'transaction.redelivery-refused.v1',
]);

export function isTransactionEvent(e: WaybillEvent): e is TransactionEvent {
  return TRANSACTION_EVENT_TYPES.has(e.type);
}

/** Folds one event into the view. Pure; order-free and idempotent (see `transaction-status.facts.ts`). */
export function evolve(view: TransactionView, event: TransactionEvent): TransactionView {
  return viewOf(view.id, view.orgId, addFact(view.facts, event));
}

/** Folds several events of one transaction at once: `events.reduce(evolve, view)`, deriving the view once. */
export function evolveAll(view: TransactionView, events: readonly TransactionEvent[]): TransactionView {
  return events.length === 0 ? view : viewOf(view.id, view.orgId, events.reduce(addFact, view.facts));
}

/** Adds what one event says to the facts. */
export function addFact(f: TransactionFacts, e: TransactionEvent): TransactionFacts {
  const stamp = stampOf(e);
  const facts: TransactionFacts = { ...f, latest: Math.max(f.latest, stamp.at) };
  switch (e.type) {
    case 'transaction.received.v1':
      return withHeader(facts, e, stamp);
    case 'transaction.received.v2': {
      // The header, and the first delivery's routing (what `transaction.routed` says for later ones).
      const { deliveryId, generation, channelId } = e.data;
      return withRouted(withHeader(facts, e, stamp), deliveryId, generation, channelId, stamp);
    }
    case 'transaction.routed.v1':
      return withRouted(facts, e.data.deliveryId, e.data.generation, e.data.channelId, stamp);
    case 'delivery.started.v1':
      return withDelivery(facts, e.data.deliveryId, stamp, (d) => ({
        ...d,
        attempted: d.attempted && !after(d.attempted.stamp, stamp) ? d.attempted : { stamp, channelId: e.data.channelId },
        started: true,
      }));
    case 'delivery.attempted.v1': {
      const ends = outcomeOfAttempt(e, stamp);
      return withDelivery(facts, e.data.deliveryId, stamp, (d) => ({
        ...d,
        attempted: d.attempted && !after(d.attempted.stamp, stamp) ? d.attempted : { stamp, channelId: e.data.channelId },
        attempts: Math.max(d.attempts, e.data.attempt),
        lastAttempt: d.lastAttempt ? later(d.lastAttempt, stamp) : stamp,
        retryable: d.retryable || e.data.outcome === 'RETRYABLE',
        outcome: ends ? strongerOutcome(d.outcome, ends) : d.outcome,
      }));
    }
    case 'delivery.retry-scheduled.v1': {
      const retry = { attempt: e.data.attempt, dueAt: new Date(e.data.dueAt).toISOString() };
      return withDelivery(facts, e.data.deliveryId, stamp, (d) => ({
        ...d,
        retry: !d.retry || retry.attempt > d.retry.attempt || (retry.attempt === d.retry.attempt && retry.dueAt > d.retry.dueAt) ? retry : d.retry,
      }));
    }
    case 'delivery.deferred.v1': {
      const until = e.data.until === null ? null : new Date(e.data.until).toISOString();
      return withDelivery(facts, e.data.deliveryId, stamp, (d) => ({ ...d, deferral: laterOf(d.deferral, { stamp, until }) }));
    }
    case 'transaction.accepted.v1':
      return withOutcome(facts, e.data.deliveryId, { status: 'ACCEPTED', stamp, by: e.data.by });
    case 'transaction.dispatched.v1':
      return withOutcome(facts, e.data.deliveryId, { status: 'DISPATCHED', stamp, by: null });
    case 'transaction.rejected.v1':
      return withOutcome(facts, e.data.deliveryId, { status: 'REJECTED', stamp, by: null });
    case 'transaction.failed.v1':
      return withOutcome(facts, e.data.deliveryId, { status: 'FAILED', stamp, by: null });
    case 'transaction.redelivery-requested.v1':
      return { ...facts, request: laterOf(facts.request, { stamp, generation: e.data.generation ?? null }) };
    case 'transaction.redelivery-refused.v1':
      return { ...facts, refused: laterOf(facts.refused ?? null, { stamp, requestId: e.data.requestId }) };
    default:
      return assertNever(e);
  }
}

function stampOf(e: TransactionEvent): Stamp {
  return { at: Date.parse(e.occurredAt), eventId: e.eventId };
}

/** The outcome an attempt's answer gives its delivery when it ends it (all but RETRYABLE do). */
function outcomeOfAttempt(e: EventOf<'delivery.attempted.v1'>, stamp: Stamp): OutcomeFact | null {
  const o = e.data.outcome;
  if (o === 'RETRYABLE') return null;
  return { status: o, stamp, by: o === 'ACCEPTED' ? 'PARTNER' : null, derived: true };
}

function withHeader(facts: TransactionFacts, e: EventOf<'transaction.received.v1'> | EventOf<'transaction.received.v2'>, stamp: Stamp): TransactionFacts {
  const d = e.data;
  // One transaction has one received event; read twice, the first published stands.
  if (facts.header && !after(facts.header.stamp, stamp)) return facts;
  return {
    ...facts,
    header: {
      stamp,
      relationshipId: d.relationshipId,
      senderId: d.senderId,
      receiverId: d.receiverId,
      transactionType: d.transactionType,
      businessNumber: d.businessNumber,
      stream: d.stream,
      createdAt: new Date(d.createdAt).toISOString(),
      channelId: d.channelId,
    },
  };
}

function withRouted(facts: TransactionFacts, deliveryId: string, generation: number, channelId: string, stamp: Stamp): TransactionFacts {
  return withDelivery(facts, deliveryId, stamp, (d) => ({
    ...d,
    generation: Math.max(d.generation ?? 0, generation),
    routed: d.routed ? earlier(d.routed, stamp) : stamp,
    channelId,
  }));
}

function withDelivery(f: TransactionFacts, deliveryId: string, stamp: Stamp, change: (d: DeliveryFacts) => DeliveryFacts): TransactionFacts {
  const known = f.deliveries[deliveryId] ?? initialDeliveryFacts(stamp);
  const changed = change(known);
  return { ...f, deliveries: { ...f.deliveries, [deliveryId]: { ...changed, first: earlier(known.first, stamp) } } };
}

function withOutcome(f: TransactionFacts, deliveryId: string | null, outcome: OutcomeFact): TransactionFacts {
  if (deliveryId === null) return { ...f, settled: laterOf(f.settled, outcome) };
  return withDelivery(f, deliveryId, outcome.stamp, (d) => ({ ...d, outcome: strongerOutcome(d.outcome, outcome) }));
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
