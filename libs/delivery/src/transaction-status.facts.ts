/**
 * The facts: everything the fold knows of a transaction, as an order-free state.
 *
 * Two producers write a transaction's history (routing: received, routed; the dispatcher: attempts,
 * retries, outcomes; the status service: API accepts and redelivery requests), so the projection
 * may read an attempt before the `transaction.received` it follows, or a retry schedule after the
 * success that followed it, and it reads every event at least once. The fold is therefore built so
 * that order and repetition cannot matter: `evolve` only *adds facts* to a {@link TransactionFacts},
 * and every fact is merged with a commutative, associative, idempotent rule (a maximum, a minimum, a
 * union, a precedence) — the rules below. The status is then derived from the facts alone
 * (`viewOf`, in `transaction-status.view.ts`). Any reading of a history — shuffled, with repeats —
 * folds to the same state as the order of publication does; the property tests in
 * `transaction-status.spec.ts` and `transaction-status.history.spec.ts` check exactly that.
 *
 * Where facts of two producers must be ordered, causality is used when the events carry it (a
 * delivery's `generation`; the generation a redelivery request was made against), and the
 * producers' clocks only where nothing else says which came first (a deferral against an attempt
 * of the same dispatcher; routing's answer to a redelivery request, which it can only send after
 * reading the request).
 *
 * The facts are stored as they are (`status.transactions.facts`, jsonb): a change to their shape
 * must read facts stored before it (new fields are optional).
 */

/** How a delivery ended, as its terminal event says. */
export type Outcome = 'ACCEPTED' | 'DISPATCHED' | 'REJECTED' | 'FAILED';
export type AcceptedBy = 'PARTNER' | 'API' | 'PULL';

/** When an event happened by its producer's clock (ms since the epoch), its id breaking ties. */
export interface Stamp {
  at: number;
  eventId: string;
}

export interface OutcomeFact {
  status: Outcome;
  stamp: Stamp;
  by: AcceptedBy | null;
  /**
   * Read off an attempt whose outcome ends the delivery, not from a terminal event: the
   * dispatcher sends no terminal event beside such an attempt. A terminal event of the same
   * rank says more (who accepted: a pull's ack), so it stands over this.
   */
  derived?: boolean;
}

/** What is known of one delivery (one generation) of the transaction. */
export interface DeliveryFacts {
  /** From `transaction.routed`; null while only the dispatcher's events of it have been read. */
  generation: number | null;
  routed: Stamp | null;
  /** The channel routing chose (authoritative). */
  channelId: string | null;
  /** The channel the earliest attempt read named: for a delivery whose `routed` is not read yet. */
  attempted: { stamp: Stamp; channelId: string } | null;
  /** The earliest event of this delivery read so far: its anchor until `routed` is known. */
  first: Stamp;
  /** Highest attempt number read. */
  attempts: number;
  /** An attempt was seen under way (`delivery.started`: a slow request, a pull lease). Absent in facts stored before. */
  started?: boolean;
  lastAttempt: Stamp | null;
  /** A retryable attempt was read. */
  retryable: boolean;
  /** The retry with the highest attempt number. */
  retry: { attempt: number; dueAt: string } | null;
  /** The latest deferral (circuit open, channel disabled or busy). */
  deferral: { stamp: Stamp; until: string | null } | null;
  /** The strongest answer of the partner (see `OUTCOME_RANK`). */
  outcome: OutcomeFact | null;
}

export interface TransactionHeaderFacts {
  stamp: Stamp;
  relationshipId: string;
  senderId: string;
  receiverId: string;
  transactionType: string;
  businessNumber: string | null;
  stream: 'LIVE' | 'TEST';
  createdAt: string;
  channelId: string;
}

/** Everything the fold knows of a transaction: the order-free state. */
export interface TransactionFacts {
  /** From `transaction.received`. */
  header: TransactionHeaderFacts | null;
  deliveries: Record<string, DeliveryFacts>;
  /** The latest redelivery request and the generation it was made against. */
  request: { stamp: Stamp; generation: number | null } | null;
  /**
   * The latest terminal event that names no delivery (routing failed a redelivery it could not
   * route, before it answered with `transaction.redelivery-refused`).
   */
  settled: OutcomeFact | null;
  /**
   * Routing's latest refusal of a redelivery request (the request's event id): the request it
   * names is answered, and the status is what it was before it. Absent in facts stored before.
   */
  refused?: { stamp: Stamp; requestId: string } | null;
  /** Latest `occurredAt` read (ms). */
  latest: number;
}

/** The facts before any event; `at` is the time of the first event read (ISO 8601). */
export function initialFacts(at: string): TransactionFacts {
  return { header: null, deliveries: {}, request: null, settled: null, refused: null, latest: Date.parse(at) };
}

/** What is known of a delivery before any of its events: `first` is the event that names it first. */
export function initialDeliveryFacts(first: Stamp): DeliveryFacts {
  return {
    generation: null,
    routed: null,
    channelId: null,
    attempted: null,
    first,
    attempts: 0,
    lastAttempt: null,
    retryable: false,
    retry: null,
    deferral: null,
    outcome: null,
  };
}

// ------------------------------------------------------------------------------------------------
// How two facts merge: each rule is commutative, associative and idempotent.

/**
 * Which answer of a partner stands when a delivery got several (an attempt repeated after a
 * dispatcher crashed, a 202 later accepted by hand): the strongest acknowledgement. A partner that
 * once accepted a transaction has it, even if a repeat of the request was refused as a duplicate.
 */
const OUTCOME_RANK: Record<Outcome, number> = { ACCEPTED: 4, DISPATCHED: 3, REJECTED: 2, FAILED: 1 };

/** a happened after b (by producer time, then id). */
export function after(a: Stamp, b: Stamp): boolean {
  return a.at > b.at || (a.at === b.at && a.eventId > b.eventId);
}
export const later = (a: Stamp, b: Stamp): Stamp => (after(a, b) ? a : b);
export const earlier = (a: Stamp, b: Stamp): Stamp => (after(a, b) ? b : a);

/** Of two stamped facts, the later; `a` stands on a tie (the same event read twice). */
export function laterOf<T extends { stamp: Stamp }>(a: T | null, b: T): T {
  return a && !after(b.stamp, a.stamp) ? a : b;
}

/** The stronger answer; of two equally strong, a terminal event's over an attempt's, then the first given. */
export function strongerOutcome(a: OutcomeFact | null, b: OutcomeFact | null): OutcomeFact | null {
  if (!a || !b) return a ?? b;
  if (OUTCOME_RANK[a.status] !== OUTCOME_RANK[b.status]) return OUTCOME_RANK[a.status] > OUTCOME_RANK[b.status] ? a : b;
  if (Boolean(a.derived) !== Boolean(b.derived)) return a.derived ? b : a;
  return after(a.stamp, b.stamp) ? b : a;
}
