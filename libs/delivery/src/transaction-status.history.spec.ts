import fc from 'fast-check';
import { EventData, EventOf, EventType, makeEvent } from '@waybill/contracts';
import {
  AcceptedBy,
  decideAccept,
  decideRedelivery,
  evolve,
  initialView,
  TransactionEvent,
  TransactionStatus,
  TransactionView,
  viewOf,
} from './transaction-status';

/**
 * Whole lives of a transaction, as the three producers publish them: routing (received, routed,
 * and its answers to redelivery requests), the dispatcher (attempts, retries, deferrals, outcomes)
 * and the status service (API accepts, redelivery requests). Several deliveries (generations),
 * redeliveries that routing could not route, deliveries still in flight at the end.
 *
 * The properties: read in the order of publication, a history ends in the status its story says;
 * read in any order, with any events repeated, and with the state stored as JSON between batches
 * (as the projection stores it), it folds to exactly the same state.
 */

const ORG = 'org_1';
const TX = 'tx_1';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1_000).toISOString();

type Ending =
  | 'ACCEPTED'
  | 'DISPATCHED'
  | 'API_ACCEPTED'
  | 'REJECTED'
  | 'FAILED'
  | 'EXHAUSTED'
  | 'NOT_SENT'
  | 'RETRY_SCHEDULED'
  | 'DEFERRED';
const SETTLED_ENDINGS: Ending[] = ['ACCEPTED', 'DISPATCHED', 'API_ACCEPTED', 'REJECTED', 'FAILED', 'EXHAUSTED'];
const ALL_ENDINGS: Ending[] = [...SETTLED_ENDINGS, 'NOT_SENT', 'RETRY_SCHEDULED', 'DEFERRED'];

interface DeliveryPlan {
  channel: string;
  retries: { statusCode: number | null; deferredFor: number | null }[];
  ending: Ending;
  /** Before this delivery (not the first): how many redelivery requests routing could not route. */
  failedRoutings: number;
  /** How routing answered those: refused (now), or failed with no delivery (logs written before). */
  failedAs: 'REFUSED' | 'FAILED';
}

interface Plan {
  deliveries: DeliveryPlan[];
  /**
   * After the last delivery (settled): a redelivery request still unanswered, refused by routing
   * (the status goes back to what it was), or — as logs written before the refusal show — failed.
   */
  tail: 'NONE' | 'REQUEST_PENDING' | 'REQUEST_REFUSED' | 'REQUEST_UNROUTABLE';
}

interface Expected {
  status: TransactionStatus;
  deliveryId: string | null;
  generation: number;
  channelId: string;
  nextAttemptAt: string | null;
  acceptedBy: AcceptedBy | null;
}

interface History {
  plan: Plan;
  events: TransactionEvent[];
  expected: Expected;
}

/** Builds the events of a plan in their order of publication, and what the API should then show. */
function build(plan: Plan): History {
  let seq = 0;
  let requestSeq = 0;
  let t = 0;
  const events: TransactionEvent[] = [];
  // Publishers' ids are time-ordered (UUIDv7); the status service's are derived (UUIDv5), so in no
  // particular order: here they sort before everything, to show the fold does not lean on them.
  const id = () => `00000000-0000-7000-8000-${(++seq).toString(16).padStart(12, '0')}`;
  const requestId = () => `00000000-0000-5000-8000-${(0xffffffff - ++requestSeq).toString(16).padStart(12, '0')}`;
  const emit = <T extends EventType>(type: T, data: EventData<T>, at: number, eventId = id()) => {
    events.push(makeEvent(type, { eventId, occurredAt: iso(at), orgId: ORG, key: TX, data }) as unknown as TransactionEvent);
  };
  const terminal = (type: 'transaction.accepted.v1' | 'transaction.dispatched.v1' | 'transaction.rejected.v1' | 'transaction.failed.v1', deliveryId: string | null, at: number, extra: object = {}) =>
    emit(type, { transactionId: TX, deliveryId, ...extra } as never, at);

  const first = plan.deliveries[0];
  emit('transaction.received.v1', {
    id: TX, relationshipId: 'rel_1', senderId: 'acme', receiverId: 'globex', transactionType: '850', businessNumber: 'PO-1',
    stream: 'LIVE', createdAt: iso(0), channelId: first.channel, format: 'JSON', payloadBytes: 10,
  }, t);

  let expected: Expected = { status: 'PENDING', deliveryId: null, generation: 0, channelId: first.channel, nextAttemptAt: null, acceptedBy: null };
  plan.deliveries.forEach((d, i) => {
    const generation = i + 1;
    const deliveryId = `dl_${generation}`;
    if (i > 0) {
      for (let f = 0; f < d.failedRoutings; f++) {
        t += 10;
        const request = requestId();
        emit('transaction.redelivery-requested.v1', { transactionId: TX, requestedAt: iso(t), generation: generation - 1 }, t, request);
        t += 1;
        if (d.failedAs === 'FAILED') terminal('transaction.failed.v1', null, t, { reason: 'the relationship has no channel' });
        else emit('transaction.redelivery-refused.v1', { transactionId: TX, requestId: request, reason: 'the relationship has no channel' }, t);
      }
      t += 10;
      emit('transaction.redelivery-requested.v1', { transactionId: TX, requestedAt: iso(t), generation: generation - 1 }, t, requestId());
      t += 1;
    }
    emit('transaction.routed.v1', { transactionId: TX, channelId: d.channel, deliveryId, generation }, t);
    expected = { status: 'PENDING', deliveryId, generation, channelId: d.channel, nextAttemptAt: null, acceptedBy: null };
    const attempted = (attempt: number, statusCode: number | null, outcome: EventData<'delivery.attempted.v1'>['outcome'], at: number) =>
      emit('delivery.attempted.v1', {
        transactionId: TX, deliveryId, channelId: d.channel, attempt, at: iso(at), statusCode, outcome, durationMs: 5,
        error: statusCode === null ? 'ECONNREFUSED' : null, responseExcerpt: null,
      }, at);
    let attempt = 0;
    for (const r of d.retries) {
      t += 1;
      attempted(++attempt, r.statusCode, 'RETRYABLE', t);
      emit('delivery.retry-scheduled.v1', { transactionId: TX, deliveryId, attempt: attempt + 1, dueAt: iso(t + 30) }, t);
      expected = { ...expected, status: 'SENDING', nextAttemptAt: iso(t + 30) };
      if (r.deferredFor !== null) {
        // Due, but the channel's circuit is open: held until it half-opens.
        t += 30;
        emit('delivery.deferred.v1', { transactionId: TX, deliveryId, reason: 'CIRCUIT_OPEN', until: iso(t + r.deferredFor) }, t);
        expected = { ...expected, nextAttemptAt: iso(t + r.deferredFor) };
        t += r.deferredFor;
      } else {
        t += 30;
      }
    }
    t += 1;
    switch (d.ending) {
      case 'ACCEPTED':
        attempted(++attempt, 200, 'ACCEPTED', t);
        terminal('transaction.accepted.v1', deliveryId, t, { by: 'PARTNER' });
        expected = { ...expected, status: 'ACCEPTED', nextAttemptAt: null, acceptedBy: 'PARTNER' };
        break;
      case 'DISPATCHED':
      case 'API_ACCEPTED':
        attempted(++attempt, 202, 'DISPATCHED', t);
        terminal('transaction.dispatched.v1', deliveryId, t);
        expected = { ...expected, status: 'DISPATCHED', nextAttemptAt: null };
        if (d.ending === 'API_ACCEPTED') {
          t += 100;
          // Accepted by hand; the same accept sent twice (two concurrent calls) is one event id.
          const eventId = requestId();
          terminal('transaction.accepted.v1', deliveryId, t, { by: 'API' });
          events[events.length - 1] = { ...events[events.length - 1], eventId };
          events.push({ ...events[events.length - 1] });
          expected = { ...expected, status: 'ACCEPTED', acceptedBy: 'API' };
        }
        break;
      case 'REJECTED':
        attempted(++attempt, 400, 'REJECTED', t);
        terminal('transaction.rejected.v1', deliveryId, t, { statusCode: 400 });
        expected = { ...expected, status: 'REJECTED', nextAttemptAt: null };
        break;
      case 'FAILED':
        attempted(++attempt, 404, 'FAILED', t);
        terminal('transaction.failed.v1', deliveryId, t, { reason: 'the partner answered 404' });
        expected = { ...expected, status: 'FAILED', nextAttemptAt: null };
        break;
      case 'EXHAUSTED':
        attempted(++attempt, 500, 'RETRYABLE', t);
        terminal('transaction.failed.v1', deliveryId, t, { reason: 'retries spent' });
        expected = { ...expected, status: 'FAILED', nextAttemptAt: null };
        break;
      case 'NOT_SENT':
      case 'RETRY_SCHEDULED':
        break; // as the retries left it
      case 'DEFERRED':
        t += 1;
        emit('delivery.deferred.v1', { transactionId: TX, deliveryId, reason: 'CHANNEL_BUSY', until: iso(t + 5) }, t);
        expected = { ...expected, status: 'SENDING', nextAttemptAt: iso(t + 5) };
        break;
    }
  });

  const last = plan.deliveries.length;
  if (plan.tail !== 'NONE') {
    t += 10;
    const request = requestId();
    emit('transaction.redelivery-requested.v1', { transactionId: TX, requestedAt: iso(t), generation: last }, t, request);
    const before = expected;
    expected = { ...expected, status: 'PENDING', nextAttemptAt: null, acceptedBy: null };
    if (plan.tail === 'REQUEST_REFUSED') {
      t += 1;
      emit('transaction.redelivery-refused.v1', { transactionId: TX, requestId: request, reason: 'the relationship no longer exists' }, t);
      expected = before; // nothing was sent: the status is what it was
    }
    if (plan.tail === 'REQUEST_UNROUTABLE') {
      t += 1;
      terminal('transaction.failed.v1', null, t, { reason: 'the relationship no longer exists' });
      expected = { ...expected, status: 'FAILED' };
    }
  }
  return { plan, events, expected };
}

const retries = fc.array(fc.record({ statusCode: fc.constantFrom(429, 500, 503, null), deferredFor: fc.option(fc.integer({ min: 1, max: 50 }), { nil: null }) }), { maxLength: 3 });
const plans: fc.Arbitrary<Plan> = fc
  .tuple(
    fc.array(fc.record({ channel: fc.constantFrom('ch_1', 'ch_2'), retries, ending: fc.constantFrom(...SETTLED_ENDINGS), failedRoutings: fc.integer({ min: 0, max: 2 }), failedAs: fc.constantFrom<DeliveryPlan['failedAs']>('REFUSED', 'FAILED') }), { maxLength: 2 }),
    fc.record({ channel: fc.constantFrom('ch_1', 'ch_2'), retries, ending: fc.constantFrom(...ALL_ENDINGS), failedRoutings: fc.integer({ min: 0, max: 2 }), failedAs: fc.constantFrom<DeliveryPlan['failedAs']>('REFUSED', 'FAILED') }),
    fc.constantFrom<Plan['tail']>('NONE', 'REQUEST_PENDING', 'REQUEST_REFUSED', 'REQUEST_UNROUTABLE'),
  )
  .map(([settled, last, tail]) => ({
    deliveries: [...settled, last],
    // A redelivery can only be asked for when nothing is in flight.
    tail: SETTLED_ENDINGS.includes(last.ending) ? tail : 'NONE',
  }));
const histories = plans.map(build);

/** A reading: the history shuffled, some events read twice, and a few batch boundaries. */
const readings = histories.chain((h) =>
  fc
    .record({
      order: fc.shuffledSubarray(h.events.map((_, i) => i), { minLength: h.events.length, maxLength: h.events.length }),
      repeats: fc.array(fc.nat({ max: h.events.length - 1 }), { maxLength: 5 }),
      cuts: fc.array(fc.nat({ max: h.events.length + 5 }), { maxLength: 4 }),
    })
    .map(({ order, repeats, cuts }) => {
      const read = [...order, ...repeats].map((i) => h.events[i]);
      return { history: h, read, cuts: new Set(cuts) };
    }),
);

const fresh = (at: string) => initialView(TX, ORG, at);
const fold = (events: readonly TransactionEvent[], from = fresh(events[0].occurredAt)) => events.reduce(evolve, from);

/** Folds `events`, storing the state as JSON at each cut, as the projection does between batches. */
function foldInBatches(events: readonly TransactionEvent[], cuts: Set<number>): TransactionView {
  let view = fresh(events[0].occurredAt);
  events.forEach((e, i) => {
    if (cuts.has(i)) {
      const stored = JSON.parse(JSON.stringify(view.facts));
      view = viewOf(TX, ORG, stored);
    }
    view = evolve(view, e);
  });
  return view;
}

describe('transaction status over whole lives: several deliveries, redeliveries, in flight', () => {
  it('read in order of publication, ends in the status, delivery, generation, channel and next attempt its story says', () => {
    fc.assert(
      fc.property(histories, (h) => {
        expect(fold(h.events)).toMatchObject(h.expected);
      }),
      { numRuns: 500 },
    );
  });

  it('read in any order, any event repeated, stored as JSON between batches: exactly the same state as in order', () => {
    fc.assert(
      fc.property(readings, ({ history, read, cuts }) => {
        const inOrder = fold(history.events, fresh(read[0].occurredAt));
        expect(foldInBatches(read, cuts)).toEqual(inOrder);
      }),
      { numRuns: 1_000 },
    );
  });

  it('whatever reading came first, the state does not depend on the time of the first event read', () => {
    fc.assert(
      fc.property(histories, fc.nat(), (h, n) => {
        const first = h.events[n % h.events.length];
        expect(fold(h.events, fresh(first.occurredAt))).toEqual(fold(h.events, fresh(h.events[0].occurredAt)));
      }),
    );
  });

  it('the status it shows is never the one of a superseded delivery', () => {
    fc.assert(
      fc.property(readings, ({ history, read }) => {
        const view = fold(read);
        if (history.expected.deliveryId !== null) expect(view.deliveryId).toBe(history.expected.deliveryId);
      }),
    );
  });
});

describe('commands, decided on the view', () => {
  it('accept: a DISPATCHED transaction is accepted for the delivery it speaks of; folding the event shows ACCEPTED by API', () => {
    fc.assert(
      fc.property(histories, (h) => {
        const view = fold(h.events);
        const decision = decideAccept(view);
        if (view.status !== 'DISPATCHED') {
          if (view.status === 'ACCEPTED' && view.acceptedBy === 'API') expect(decision).toEqual({ ok: true, event: null });
          else expect(decision).toMatchObject({ ok: false, rejection: { code: 'TRANSACTION_NOT_DISPATCHED' } });
          return;
        }
        expect(decision).toEqual({ ok: true, event: { transactionId: TX, deliveryId: view.deliveryId, by: 'API' } });
        if (!decision.ok || !decision.event) return;
        const accepted = makeEvent('transaction.accepted.v1', {
          eventId: '00000000-0000-5000-8000-000000000001', occurredAt: iso(100_000), orgId: ORG, key: TX, data: decision.event,
        });
        const after = evolve(view, accepted);
        expect(after).toMatchObject({ status: 'ACCEPTED', acceptedBy: 'API', deliveryId: view.deliveryId });
        expect(decideAccept(after)).toEqual({ ok: true, event: null }); // repeating it is safe
      }),
    );
  });

  it('redeliver: refused while a delivery is in flight; otherwise the request, folded, shows PENDING and is refused again', () => {
    fc.assert(
      fc.property(histories, (h) => {
        const view = fold(h.events);
        const decision = decideRedelivery(view, new Date(T0 + 200_000_000));
        if (view.status === 'PENDING' || view.status === 'SENDING') {
          expect(decision).toMatchObject({ ok: false, rejection: { code: 'TRANSACTION_IN_FLIGHT' } });
          return;
        }
        expect(decision).toMatchObject({ ok: true, event: { transactionId: TX, generation: view.generation } });
        if (!decision.ok || !decision.event) return;
        const request: EventOf<'transaction.redelivery-requested.v1'> = makeEvent('transaction.redelivery-requested.v1', {
          eventId: '00000000-0000-5000-8000-000000000002', occurredAt: iso(200_000), orgId: ORG, key: TX, data: decision.event,
        });
        const after = evolve(view, request);
        expect(after).toMatchObject({ status: 'PENDING', nextAttemptAt: null });
        expect(decideRedelivery(after, new Date())).toMatchObject({ ok: false });
        // Routing answers with generation + 1: the request is answered, the new delivery speaks.
        const routed = makeEvent('transaction.routed.v1', {
          eventId: '00000000-0000-7000-8000-0000ffffffff', occurredAt: iso(200_001), orgId: ORG, key: TX,
          data: { transactionId: TX, channelId: 'ch_3', deliveryId: 'dl_new', generation: view.generation + 1 },
        });
        expect(evolve(after, routed)).toMatchObject({ status: 'PENDING', deliveryId: 'dl_new', generation: view.generation + 1, channelId: 'ch_3' });
      }),
    );
  });
});

describe('stated cases', () => {
  const h = (plan: Plan) => build(plan);
  const one = (ending: Ending, extra: Partial<DeliveryPlan> = {}): DeliveryPlan => ({ channel: 'ch_1', retries: [], ending, failedRoutings: 0, failedAs: 'REFUSED', ...extra });

  it('a partner that keeps answering 500 leaves it FAILED after its retries; a redelivery to a healthy partner ends ACCEPTED', () => {
    const failed = h({ deliveries: [one('EXHAUSTED', { retries: [{ statusCode: 500, deferredFor: null }, { statusCode: 500, deferredFor: null }] })], tail: 'NONE' });
    expect(fold(failed.events)).toMatchObject({ status: 'FAILED', generation: 1 });
    const redelivered = h({ deliveries: [failed.plan.deliveries[0], one('ACCEPTED')], tail: 'NONE' });
    expect(fold(redelivered.events)).toMatchObject({ status: 'ACCEPTED', generation: 2, deliveryId: 'dl_2', acceptedBy: 'PARTNER' });
  });

  it.each(['ACCEPTED', 'API_ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'] as const)(
    'a redelivery routing refused (its relationship is gone) leaves a %s transaction as it was, with no attempt added',
    (ending) => {
      const before = fold(h({ deliveries: [one(ending)], tail: 'NONE' }).events);
      const refused = h({ deliveries: [one(ending)], tail: 'REQUEST_REFUSED' });
      const after = fold(refused.events);
      expect(after).toMatchObject({ status: before.status, acceptedBy: before.acceptedBy, generation: 1, deliveryId: 'dl_1' });
      expect(after.facts.deliveries['dl_1']?.attempts).toBe(before.facts.deliveries['dl_1']?.attempts);
      // Asked for again, it is PENDING again (a new request, not the refused one).
      const again = makeEvent('transaction.redelivery-requested.v1', {
        eventId: '00000000-0000-5000-8000-0000000000aa', occurredAt: iso(90_000), orgId: ORG, key: TX,
        data: { transactionId: TX, requestedAt: iso(90_000), generation: 1 },
      });
      expect(evolve(after, again)).toMatchObject({ status: 'PENDING' });
    },
  );

  it('(logs written before refusals) a redelivery routing failed is FAILED; asked for again and routed, it follows the new delivery', () => {
    const unroutable = h({ deliveries: [one('FAILED')], tail: 'REQUEST_UNROUTABLE' });
    expect(fold(unroutable.events)).toMatchObject({ status: 'FAILED', generation: 1, deliveryId: 'dl_1' });
    const routedLater = h({ deliveries: [one('FAILED'), one('DISPATCHED', { failedRoutings: 1, failedAs: 'FAILED', channel: 'ch_2' })], tail: 'NONE' });
    expect(fold(routedLater.events)).toMatchObject({ status: 'DISPATCHED', generation: 2, channelId: 'ch_2' });
  });

  it('an answer of the partner to a repeated attempt never weakens the outcome (at-least-once delivery by the dispatcher)', () => {
    const { events } = h({ deliveries: [one('ACCEPTED')], tail: 'NONE' });
    const repeat = makeEvent('transaction.failed.v1', {
      eventId: '00000000-0000-7000-8000-00000000ffff', occurredAt: iso(500), orgId: ORG, key: TX,
      data: { transactionId: TX, deliveryId: 'dl_1', reason: 'the partner answered 409' },
    });
    expect(fold([...events, repeat])).toMatchObject({ status: 'ACCEPTED' });
    expect(fold([repeat, ...events])).toMatchObject({ status: 'ACCEPTED' });
  });
});
