import type { AttemptOutcome, EventData, EventOf, WaybillEvent } from '@waybill/contracts';

/**
 * A transaction's status, folded from its events on `waybill.transaction-events`.
 *
 * Two producers write a transaction's history (routing: received, routed; the dispatcher: attempts,
 * retries, outcomes; the status service: API accepts and redelivery requests), so the projection
 * may read an attempt before the `transaction.received` it follows, or a retry schedule after the
 * success that followed it, and it reads every event at least once. The fold is therefore built so
 * that order and repetition cannot matter: `evolve` only *adds facts* to a {@link TransactionFacts},
 * and every fact is merged with a commutative, associative, idempotent rule (a maximum, a minimum, a
 * union, a precedence). The status is then derived from the facts alone (`viewOf`). Any reading of
 * a history — shuffled, with repeats — folds to the same state as the order of publication does;
 * the property tests in `transaction-status.spec.ts` check exactly that.
 *
 * Where facts of two producers must be ordered, causality is used when the events carry it (a
 * delivery's `generation`; the generation a redelivery request was made against), and the
 * producers' clocks only where nothing else says which came first (a deferral against an attempt
 * of the same dispatcher; routing's answer to a redelivery request, which it can only send after
 * reading the request).
 */

export type TransactionStatus = 'PENDING' | 'SENDING' | 'ACCEPTED' | 'DISPATCHED' | 'REJECTED' | 'FAILED';
/** How a delivery ended, as its terminal event says. */
export type Outcome = 'ACCEPTED' | 'DISPATCHED' | 'REJECTED' | 'FAILED';
export type AcceptedBy = 'PARTNER' | 'API' | 'PULL';

/** Statuses with a delivery in flight: redelivering one of these would send the transaction twice. */
export const IN_FLIGHT: ReadonlySet<TransactionStatus> = new Set(['PENDING', 'SENDING']);
export const TRANSACTION_STATUSES: readonly TransactionStatus[] = ['PENDING', 'SENDING', 'ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'];

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

/** When an event happened by its producer's clock (ms since the epoch), its id breaking ties. */
export interface Stamp {
  at: number;
  eventId: string;
}

interface OutcomeFact {
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

/** The state before any event. `at` is the time of the first event read (ISO 8601). */
export function initialView(id: string, orgId: string, at: string): TransactionView {
  return viewOf(id, orgId, { header: null, deliveries: {}, request: null, settled: null, refused: null, latest: Date.parse(at) });
}

/** Folds one event into the view. Pure; order-free and idempotent (see the file's comment). */
export function evolve(view: TransactionView, event: TransactionEvent): TransactionView {
  return viewOf(view.id, view.orgId, addFact(view.facts, event));
}

/** Folds several events of one transaction at once: `events.reduce(evolve, view)`, deriving the view once. */
export function evolveAll(view: TransactionView, events: readonly TransactionEvent[]): TransactionView {
  return events.length === 0 ? view : viewOf(view.id, view.orgId, events.reduce(addFact, view.facts));
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

// ------------------------------------------------------------------------------------------------
// Commands: what the API may ask of a transaction, decided on its view.

export type CommandRejection =
  | { code: 'TRANSACTION_NOT_DISPATCHED'; detail: string }
  | { code: 'TRANSACTION_IN_FLIGHT'; detail: string };

/** A decision: the event's data to publish (null: nothing left to do), or why not. */
export type Decision<D> = { ok: true; event: D | null } | { ok: false; rejection: CommandRejection };

/**
 * `POST …/accept`: DISPATCHED becomes ACCEPTED through `transaction.accepted` by `API`, for the
 * delivery the status speaks of. Accepting again what the API accepted is done already (so a
 * repeat after a 503 is safe); any other status is a conflict.
 */
export function decideAccept(view: TransactionView): Decision<EventData<'transaction.accepted.v1'>> {
  if (view.status === 'ACCEPTED' && view.acceptedBy === 'API') return { ok: true, event: null };
  if (view.status !== 'DISPATCHED') {
    return {
      ok: false,
      rejection: { code: 'TRANSACTION_NOT_DISPATCHED', detail: `Transaction ${view.id} is ${view.status}; only a DISPATCHED transaction can be accepted.` },
    };
  }
  return { ok: true, event: { transactionId: view.id, deliveryId: view.deliveryId, by: 'API' } };
}

/**
 * `POST …/redeliver` and the sweep: a new delivery of a transaction that has none in flight. The
 * request names the generation it supersedes, so the fold knows it is answered once a later
 * generation is routed, whatever the clocks say.
 */
export function decideRedelivery(view: TransactionView, now: Date): Decision<EventData<'transaction.redelivery-requested.v1'>> {
  if (IN_FLIGHT.has(view.status)) {
    return {
      ok: false,
      rejection: { code: 'TRANSACTION_IN_FLIGHT', detail: `Transaction ${view.id} is ${view.status}: a delivery is in flight.` },
    };
  }
  return { ok: true, event: { transactionId: view.id, requestedAt: now.toISOString(), generation: view.generation } };
}

// ------------------------------------------------------------------------------------------------
// Facts: each event adds what it says, merged so that order and repetition do not matter.

/**
 * Which answer of a partner stands when a delivery got several (an attempt repeated after a
 * dispatcher crashed, a 202 later accepted by hand): the strongest acknowledgement. A partner that
 * once accepted a transaction has it, even if a repeat of the request was refused as a duplicate.
 */
const OUTCOME_RANK: Record<Outcome, number> = { ACCEPTED: 4, DISPATCHED: 3, REJECTED: 2, FAILED: 1 };

function stampOf(e: TransactionEvent): Stamp {
  return { at: Date.parse(e.occurredAt), eventId: e.eventId };
}

/** a happened after b (by producer time, then id). */
function after(a: Stamp, b: Stamp): boolean {
  return a.at > b.at || (a.at === b.at && a.eventId > b.eventId);
}
const later = (a: Stamp, b: Stamp): Stamp => (after(a, b) ? a : b);
const earlier = (a: Stamp, b: Stamp): Stamp => (after(a, b) ? b : a);

/** The stronger answer; of two equally strong, a terminal event's over an attempt's, then the first given. */
function strongerOutcome(a: OutcomeFact | null, b: OutcomeFact | null): OutcomeFact | null {
  if (!a || !b) return a ?? b;
  if (OUTCOME_RANK[a.status] !== OUTCOME_RANK[b.status]) return OUTCOME_RANK[a.status] > OUTCOME_RANK[b.status] ? a : b;
  if (Boolean(a.derived) !== Boolean(b.derived)) return a.derived ? b : a;
  return after(a.stamp, b.stamp) ? b : a;
}

/** The outcome an attempt's answer gives its delivery when it ends it (all but RETRYABLE do). */
function outcomeOfAttempt(e: EventOf<'delivery.attempted.v1'>, stamp: Stamp): OutcomeFact | null {
  const o = e.data.outcome;
  if (o === 'RETRYABLE') return null;
  return { status: o, stamp, by: o === 'ACCEPTED' ? 'PARTNER' : null, derived: true };
}

function laterOf<T extends { stamp: Stamp }>(a: T | null, b: T): T {
  return a && !after(b.stamp, a.stamp) ? a : b;
}

function addFact(f: TransactionFacts, e: TransactionEvent): TransactionFacts {
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
  const known: DeliveryFacts = f.deliveries[deliveryId] ?? {
    generation: null,
    routed: null,
    channelId: null,
    attempted: null,
    first: stamp,
    attempts: 0,
    lastAttempt: null,
    retryable: false,
    retry: null,
    deferral: null,
    outcome: null,
  };
  const changed = change(known);
  return { ...f, deliveries: { ...f.deliveries, [deliveryId]: { ...changed, first: earlier(known.first, stamp) } } };
}

function withOutcome(f: TransactionFacts, deliveryId: string | null, outcome: OutcomeFact): TransactionFacts {
  if (deliveryId === null) return { ...f, settled: laterOf(f.settled, outcome) };
  return withDelivery(f, deliveryId, outcome.stamp, (d) => ({ ...d, outcome: strongerOutcome(d.outcome, outcome) }));
}

// ------------------------------------------------------------------------------------------------
// The view: derived from the facts alone.

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

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
