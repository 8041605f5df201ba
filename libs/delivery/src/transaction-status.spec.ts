import fc from 'fast-check';
import { EVENT_CATALOGUE, EventType, Topics, WaybillEvent } from '@waybill/contracts';
import { specification } from '@waybill/testing';
import { evolve, evolveAll, initialView, isTransactionEvent, transactionDecider, TransactionStatus, TransactionView } from './transaction-status';
import {
  ORG,
  TX,
  CH,
  CH2,
  D1,
  D2,
  T0,
  time,
  TxEvent,
  received,
  receivedV2,
  routed,
  attempted,
  started,
  retryScheduled,
  deferred,
  accepted,
  dispatched,
  rejected,
  failed,
  redeliveryRequested,
} from './__fixtures__/transaction-events';

const fresh = () => initialView(TX, ORG, time(0));
const fold = (events: readonly TxEvent[]) => events.reduce(evolve, fresh());
const transaction = specification({ ...transactionDecider, initialState: fresh });

/** A received and routed transaction, first delivery D1 on CH. */
const SUBMITTED = [received(0), routed(0)];

// ---------------------------------------------------------------------------------------------

describe('transaction status: what GET /v1/transactions/{id} shows after each event', () => {
  it('is PENDING once received, with the transaction header filled in', () => {
    transaction.given().when(received(0)).then({
      id: TX,
      orgId: ORG,
      status: 'PENDING',
      relationshipId: 'rel_1',
      channelId: CH,
      businessNumber: 'PO-1',
      stream: 'LIVE',
      createdAt: time(0),
      nextAttemptAt: null,
    });
  });

  it('is PENDING once routed, and speaks of the first delivery', () => {
    transaction.given(received(0)).when(routed(0)).then({ status: 'PENDING', deliveryId: D1, generation: 1, channelId: CH });
  });

  it.each<[string, TransactionStatus, TxEvent[]]>([
    ['2xx then transaction.accepted', 'ACCEPTED', [attempted(1, 1, 200, 'ACCEPTED'), accepted(1)]],
    ['202 then transaction.dispatched', 'DISPATCHED', [attempted(1, 1, 202, 'DISPATCHED'), dispatched(1)]],
    ['400 then transaction.rejected', 'REJECTED', [attempted(1, 1, 400, 'REJECTED'), rejected(1)]],
    ['404 then transaction.failed', 'FAILED', [attempted(1, 1, 404, 'FAILED'), failed(1)]],
    ['a last 503 then transaction.failed (retries exhausted)', 'FAILED', [attempted(1, 1, 503, 'RETRYABLE'), failed(1, D1, '3 retries spent')]],
  ])('after %s it is %s, with no next attempt', (_, status, events) => {
    transaction
      .given(...SUBMITTED)
      .when(...events)
      .then({ status, nextAttemptAt: null, deliveryId: D1 });
  });

  it('is SENDING once an attempt is seen under way (a slow request, a pull lease), with no attempt recorded yet', () => {
    transaction.given(...SUBMITTED).when(started(1)).then({ status: 'SENDING', nextAttemptAt: null, deliveryId: D1 });
  });

  it('is ACCEPTED once the attempt seen under way is answered, in whichever order the two are read', () => {
    transaction.given(...SUBMITTED, started(1)).when(attempted(2, 1, 200, 'ACCEPTED'), accepted(2)).then({ status: 'ACCEPTED' });
    transaction.given(...SUBMITTED, attempted(2, 1, 200, 'ACCEPTED'), accepted(2)).when(started(1)).then({ status: 'ACCEPTED' });
  });

  it('is SENDING after a retryable attempt', () => {
    transaction.given(...SUBMITTED).when(attempted(1, 1, 503, 'RETRYABLE')).then({ status: 'SENDING' });
  });

  it('is SENDING with nextAttemptAt after delivery.retry-scheduled', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'))
      .when(retryScheduled(1, 2, 31))
      .then({ status: 'SENDING', nextAttemptAt: time(31) });
  });

  it('is SENDING with nextAttemptAt while deferred by an open circuit', () => {
    transaction.given(...SUBMITTED).when(deferred(1, 60)).then({ status: 'SENDING', nextAttemptAt: time(60) });
  });

  it.each([
    [200, 'ACCEPTED', { acceptedBy: 'PARTNER' }],
    [202, 'DISPATCHED', {}],
    [400, 'REJECTED', {}],
    [404, 'FAILED', {}],
  ] as const)('an attempt answered %i ends the delivery by itself: %s (no terminal event is sent beside it)', (code, outcome, more) => {
    transaction.given(...SUBMITTED).when(attempted(1, 1, code, outcome)).then({ status: outcome, nextAttemptAt: null, deliveryId: D1, ...more });
  });

  it("a pull's ack (accepted by PULL) stands over the ACCEPTED its attempt gives, whichever is read first", () => {
    transaction.given(...SUBMITTED, attempted(1, 1, null, 'ACCEPTED')).when(accepted(1, D1, 'PULL')).then({ status: 'ACCEPTED', acceptedBy: 'PULL' });
    transaction.given(...SUBMITTED, accepted(1, D1, 'PULL')).when(attempted(1, 1, null, 'ACCEPTED')).then({ status: 'ACCEPTED', acceptedBy: 'PULL' });
  });

  it('transaction.received.v2 names the first delivery: no transaction.routed is needed for it', () => {
    transaction.given().when(receivedV2(0)).then({ status: 'PENDING', deliveryId: D1, generation: 1, channelId: CH, relationshipId: 'rel_1' });
    transaction.given(receivedV2(0)).when(attempted(1, 1, 200, 'ACCEPTED')).then({ status: 'ACCEPTED', deliveryId: D1, generation: 1 });
  });

  it('a retry that succeeds is ACCEPTED and no longer shows a next attempt', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'), retryScheduled(1, 2, 31))
      .when(attempted(31, 2, 200, 'ACCEPTED'), accepted(31))
      .then({ status: 'ACCEPTED', nextAttemptAt: null });
  });

  it('a delivery.retry-scheduled read AFTER the success that followed it does not undo ACCEPTED', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'), attempted(31, 2, 200, 'ACCEPTED'), accepted(31))
      .when(retryScheduled(1, 2, 31))
      .then({ status: 'ACCEPTED', nextAttemptAt: null });
  });

  describe.each<[TransactionStatus, TxEvent[]]>([
    ['ACCEPTED', [attempted(5, 2, 200, 'ACCEPTED'), accepted(5)]],
    ['DISPATCHED', [attempted(5, 2, 202, 'DISPATCHED'), dispatched(5)]],
    ['REJECTED', [attempted(5, 2, 400, 'REJECTED'), rejected(5)]],
    ['FAILED', [attempted(5, 2, 404, 'FAILED'), failed(5)]],
  ])('once %s', (status, terminal) => {
    it.each<[string, TxEvent]>([
      ['a retryable attempt', attempted(1, 1, 503, 'RETRYABLE')],
      ['a retry schedule', retryScheduled(1, 2, 31)],
      ['a deferral', deferred(1, 60)],
      ['a deferral without end', deferred(1, null)],
    ])('%s read late leaves it as it is', (_, late) => {
      transaction
        .given(...SUBMITTED, ...terminal)
        .when(late)
        .then({ status, nextAttemptAt: null });
    });
  });

  it('an API accept (deliveryId null) of a DISPATCHED transaction makes it ACCEPTED', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 202, 'DISPATCHED'), dispatched(1))
      .when(accepted(99, null, 'API'))
      .then({ status: 'ACCEPTED', deliveryId: D1, nextAttemptAt: null });
  });

  it('a pull acknowledgement (accepted by PULL) makes it ACCEPTED', () => {
    transaction.given(...SUBMITTED).when(accepted(5, D1, 'PULL')).then({ status: 'ACCEPTED' });
  });

  it('a redelivery request shows PENDING at once, before routing has routed the new delivery', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 404, 'FAILED'), failed(1))
      .when(redeliveryRequested(50))
      .then({ status: 'PENDING', nextAttemptAt: null });
  });

  describe('a redelivery (a new generation)', () => {
    const FIRST_FAILED = [...SUBMITTED, attempted(1, 1, 404, 'FAILED'), failed(1), redeliveryRequested(50)];
    const SECOND = routed(51, 2, D2, CH2);

    it('routed with generation 2 goes back to PENDING, on the channel as it is now', () => {
      transaction
        .given(...FIRST_FAILED)
        .when(SECOND)
        .then({ status: 'PENDING', deliveryId: D2, generation: 2, channelId: CH2, nextAttemptAt: null });
    });

    it('a generation-2 route also resets a SENDING first delivery and its next attempt', () => {
      transaction
        .given(...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'), retryScheduled(1, 2, 31))
        .when(SECOND)
        .then({ status: 'PENDING', nextAttemptAt: null, generation: 2 });
    });

    it.each<[string, TxEvent]>([
      ['a retryable attempt', attempted(60, 2, 503, 'RETRYABLE', D1)],
      ['a retry schedule', retryScheduled(60, 2, 90, D1)],
      ['a deferral', deferred(60, 90, D1)],
      ['transaction.accepted', accepted(60, D1)],
      ['transaction.dispatched', dispatched(60, D1)],
      ['transaction.rejected', rejected(60, D1)],
      ['transaction.failed', failed(60, D1)],
      ['its transaction.routed again', routed(0, 1, D1, CH)],
    ])('%s of the old generation no longer moves it', (_, old) => {
      transaction
        .given(...FIRST_FAILED, SECOND)
        .when(old)
        .then({ status: 'PENDING', deliveryId: D2, generation: 2, channelId: CH2, nextAttemptAt: null });
    });

    it('follows the new generation to its own outcome', () => {
      transaction
        .given(...FIRST_FAILED, SECOND)
        .when(attempted(52, 1, 200, 'ACCEPTED', D2), accepted(52, D2))
        .then({ status: 'ACCEPTED', deliveryId: D2, generation: 2 });
    });

    it('an event of the new generation read before its transaction.routed is not lost', () => {
      // Routing publishes routed(2) and delivery.requested(2) together; the dispatcher's answer to
      // the latter can reach waybill.transaction-events first (two producers race).
      transaction
        .given(...FIRST_FAILED)
        .when(attempted(52, 1, 200, 'ACCEPTED', D2), accepted(52, D2), SECOND)
        .then({ status: 'ACCEPTED', deliveryId: D2, generation: 2 });
    });
  });

  it('an attempt read before transaction.received keeps its status when the header arrives', () => {
    transaction
      .given(attempted(1, 1, 503, 'RETRYABLE'))
      .when(received(0))
      .then({ status: 'SENDING', relationshipId: 'rel_1', createdAt: time(0) });
  });

  it.each<[TransactionStatus, TxEvent[]]>([
    ['ACCEPTED', [attempted(1, 1, 200, 'ACCEPTED'), accepted(1)]],
    ['DISPATCHED', [attempted(1, 1, 202, 'DISPATCHED'), dispatched(1)]],
    ['REJECTED', [attempted(1, 1, 400, 'REJECTED'), rejected(1)]],
    ['FAILED', [attempted(1, 1, 404, 'FAILED'), failed(1)]],
  ])('a terminal event (%s) read before the transaction.routed it follows still decides the status', (status, terminal) => {
    // routed is published by routing, the terminal event by the dispatcher: two producers race.
    transaction
      .given(received(0), ...terminal)
      .when(routed(0))
      .then({ status, deliveryId: D1, generation: 1 });
  });

  it('updatedAt never moves backwards when an older event is read late', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'), attempted(31, 2, 200, 'ACCEPTED'), accepted(31))
      .when(retryScheduled(1, 2, 31))
      .then({ updatedAt: time(31) });
  });
});

describe('which events the projection folds', () => {
  it('exactly the event types of waybill.transaction-events and waybill.redelivery-requests', () => {
    const types = Object.keys(EVENT_CATALOGUE) as EventType[];
    const folded = types.filter((type) => isTransactionEvent({ type } as WaybillEvent));
    const read: string[] = [Topics.transactionEvents, Topics.redeliveryRequests];
    const onTopic = types.filter((type) => read.includes(EVENT_CATALOGUE[type].topic));
    expect(folded.sort()).toEqual(onTopic.sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over realistic histories of one delivery: received, routed, some retryable attempts
// (each followed by its retry schedule, some by a deferral), then a last attempt and its terminal
// event(s). The "in order" fold is what the dispatcher's order of publication gives.

type Ending = 'ACCEPTED' | 'DISPATCHED' | 'DISPATCHED_THEN_API_ACCEPT' | 'REJECTED' | 'FAILED' | 'EXHAUSTED';
const EXPECTED: Record<Ending, TransactionStatus> = {
  ACCEPTED: 'ACCEPTED',
  DISPATCHED: 'DISPATCHED',
  DISPATCHED_THEN_API_ACCEPT: 'ACCEPTED',
  REJECTED: 'REJECTED',
  FAILED: 'FAILED',
  EXHAUSTED: 'FAILED',
};
const TERMINAL_TYPES = new Set(['transaction.accepted.v1', 'transaction.dispatched.v1', 'transaction.rejected.v1', 'transaction.failed.v1']);

interface History {
  ending: Ending;
  events: TxEvent[];
}

/** The events of one delivery after its routing: retryable attempts, then the last attempt and its outcome. */
const deliveryEvents = (deliveryId: string, t0: number) =>
  fc
    .record({
      retries: fc.array(fc.record({ statusCode: fc.constantFrom(429, 500, 502, 503, 504, null), deferred: fc.boolean() }), { maxLength: 5 }),
      ending: fc.constantFrom<Ending>('ACCEPTED', 'DISPATCHED', 'DISPATCHED_THEN_API_ACCEPT', 'REJECTED', 'FAILED', 'EXHAUSTED'),
      // Whether the dispatcher sends a terminal event beside an attempt that ends the delivery (it
      // did before; it does not now): either way the same status.
      terminals: fc.boolean(),
    })
    .map(({ retries, ending, terminals }) => {
      const terminal = (e: TxEvent): TxEvent[] => (terminals ? [e] : []);
      const events: TxEvent[] = [];
      let t = t0 + 1;
      retries.forEach((r, i) => {
        events.push(attempted(t, i + 1, r.statusCode, 'RETRYABLE', deliveryId));
        if (r.deferred) events.push(deferred(t, t + 20, deliveryId));
        events.push(retryScheduled(t, i + 2, t + 30, deliveryId));
        t += 30;
      });
      const last = retries.length + 1;
      switch (ending) {
        case 'ACCEPTED':
          events.push(attempted(t, last, 200, 'ACCEPTED', deliveryId), ...terminal(accepted(t, deliveryId)));
          break;
        case 'DISPATCHED':
          events.push(attempted(t, last, 202, 'DISPATCHED', deliveryId), ...terminal(dispatched(t, deliveryId)));
          break;
        case 'DISPATCHED_THEN_API_ACCEPT':
          events.push(attempted(t, last, 202, 'DISPATCHED', deliveryId), ...terminal(dispatched(t, deliveryId)), accepted(t + 100, null, 'API'));
          break;
        case 'REJECTED':
          events.push(attempted(t, last, 400, 'REJECTED', deliveryId), ...terminal(rejected(t, deliveryId)));
          break;
        case 'FAILED':
          events.push(attempted(t, last, 404, 'FAILED', deliveryId), ...terminal(failed(t, deliveryId)));
          break;
        case 'EXHAUSTED':
          events.push(attempted(t, last, 503, 'RETRYABLE', deliveryId), failed(t, deliveryId, 'retries spent'));
          break;
      }
      return { ending, events, end: t + 100 };
    });

/** Routing's first events: the header and the routing apart (as before), or in one (`transaction.received.v2`). */
const start = (v2: boolean): TxEvent[] => (v2 ? [receivedV2(0)] : [received(0), routed(0)]);

const histories: fc.Arbitrary<History> = fc.tuple(deliveryEvents(D1, 0), fc.boolean()).map(([{ ending, events }, v2]) => {
  const all = [...start(v2), ...events];
  return { ending, events: all, [fc.toStringMethod]: () => `${ending} history:\n  ${show(all)}` };
});

/** A first delivery, a redelivery request, and the second delivery (generation 2, another channel). */
const redeliveredHistories: fc.Arbitrary<History> = fc
  .tuple(deliveryEvents(D1, 0), deliveryEvents(D2, 10_000), fc.boolean())
  .map(([first, second, v2]) => {
    const all = [...start(v2), ...first.events, redeliveryRequested(first.end + 1, 1), routed(10_000, 2, D2, CH2), ...second.events];
    return { ending: second.ending, events: all, [fc.toStringMethod]: () => `${first.ending} then ${second.ending}:\n  ${show(all)}` };
  });

/**
 * A reading of a history: its events shuffled, some read twice (at-least-once delivery). Each
 * event gets a priority and the reading sorts by it (ties keep the order of publication), so a
 * failure shrinks towards the in-order reading and shows the smallest disorder that breaks it.
 */
const MAX_EVENTS = 2 * (2 + 5 * 3 + 3) + 1;
const MAX_DUPLICATES = 4;
const readings = (keepRoutedBeforeTerminals: boolean, of: fc.Arbitrary<History> = histories) =>
  fc
    .record({
      history: of,
      duplicates: fc.array(fc.nat(), { maxLength: MAX_DUPLICATES }),
      priorities: fc.array(fc.nat({ max: 30 }), { minLength: MAX_EVENTS + MAX_DUPLICATES, maxLength: MAX_EVENTS + MAX_DUPLICATES }),
    })
    .map(({ history, duplicates, priorities }) => {
      const all = [...history.events, ...duplicates.map((i) => history.events[i % history.events.length])];
      const order = all
        .map((event, i) => ({ event, i, priority: i < history.events.length ? priorities[i] : priorities[i] + 1 }))
        .sort((a, b) => a.priority - b.priority || a.i - b.i)
        .map((x) => x.event);
      return reading(history, keepRoutedBeforeTerminals ? routedFirst(order) : order);
    });

/** A reading that fast-check prints as the events in the order read, one a line. */
function reading(history: History, order: TxEvent[]) {
  return { history, order, [fc.toStringMethod]: () => `${history.ending} history, read as:\n  ${show(order)}` };
}

/** Moves the first transaction.routed in front of the first terminal event (or attempt that ends the delivery), if it came after it. */
function routedFirst(order: TxEvent[]): TxEvent[] {
  const ends = (e: TxEvent) => TERMINAL_TYPES.has(e.type) || (e.type === 'delivery.attempted.v1' && e.data.outcome !== 'RETRYABLE');
  const firstTerminal = order.findIndex(ends);
  const firstRouted = order.findIndex((e) => e.type === 'transaction.routed.v1');
  if (firstRouted < 0 || firstTerminal < 0 || firstRouted < firstTerminal) return order;
  const rest = order.filter((_, i) => i !== firstRouted);
  return [...rest.slice(0, firstTerminal), order[firstRouted], ...rest.slice(firstTerminal)];
}

/** What a user sees of the transaction, but its updatedAt (see the updatedAt test above). */
const visible = ({ updatedAt: _, ...rest }: TransactionView) => rest;
/** One line an event: `attempted #2 503 RETRYABLE dl_1 @31s`. */
function label(e: TxEvent): string {
  const d = e.data as Record<string, unknown>;
  const bits = [
    e.type.replace(/^(transaction|delivery)\./, '').replace(/\.v1$/, ''),
    d['generation'] !== undefined ? `gen ${d['generation']}` : null,
    d['attempt'] !== undefined ? `#${d['attempt']}` : null,
    d['statusCode'] !== undefined ? String(d['statusCode']) : null,
    (d['outcome'] as string | undefined) ?? null,
    (d['by'] as string | undefined) ?? null,
    'deliveryId' in d ? String(d['deliveryId']) : null,
    `@${(Date.parse(e.occurredAt) - T0) / 1_000}s`,
  ];
  return bits.filter((b) => b !== null).join(' ');
}
const show = (events: TxEvent[]) => events.map(label).join('\n  ');

describe('transaction status, properties over realistic histories of one delivery', () => {
  it('read in order, every history ends in the status its terminal event names, with no next attempt', () => {
    fc.assert(
      fc.property(histories, (h) => {
        expect(fold(h.events)).toMatchObject({ status: EXPECTED[h.ending], nextAttemptAt: null, deliveryId: D1, generation: 1 });
      }),
    );
  });

  it('idempotent: applying the same event twice in a row gives the same view as applying it once', () => {
    fc.assert(
      fc.property(
        histories,
        fc.nat(),
        (h, n) => {
          const i = n % h.events.length;
          const once = fold(h.events);
          const twice = fold([...h.events.slice(0, i + 1), h.events[i], ...h.events.slice(i + 1)]);
          expect(twice).toEqual(once);
        },
      ),
    );
  });

  it('tolerant of order when transaction.routed is read before the terminal events: any shuffle, any duplicates, same view as in order (updatedAt aside)', () => {
    fc.assert(
      fc.property(readings(true), ({ history, order }) => {
        expect(visible(fold(order))).toEqual(visible(fold(history.events)));
      }),
    );
  });

  it('tolerant of any order at all, transaction.routed read after a terminal event included (routing and the dispatcher race on the topic)', () => {
    fc.assert(
      fc.property(readings(false), ({ history, order }) => {
        expect(visible(fold(order))).toEqual(visible(fold(history.events)));
      }),
    );
  });

  it('folding a batch at once (evolveAll) gives the view folding event by event gives, split anywhere', () => {
    fc.assert(
      fc.property(readings(false), fc.nat(), ({ order }, n) => {
        const cut = n % (order.length + 1);
        expect(evolveAll(evolveAll(fresh(), order.slice(0, cut)), order.slice(cut))).toEqual(fold(order));
      }),
    );
  });

  it('updatedAt is the time of the latest event, whatever the order of reading', () => {
    fc.assert(
      fc.property(readings(false), ({ history, order }) => {
        const latest = Math.max(...history.events.map((e) => Date.parse(e.occurredAt)));
        expect(fold(order).updatedAt).toBe(new Date(latest).toISOString());
      }),
    );
  });
});

describe('transaction status, properties over a redelivery (two generations)', () => {
  it("read in order, the status is the second delivery's outcome, on its channel", () => {
    fc.assert(
      fc.property(redeliveredHistories, (h) => {
        expect(fold(h.events)).toMatchObject({ status: EXPECTED[h.ending], deliveryId: D2, generation: 2, channelId: CH2, nextAttemptAt: null });
      }),
    );
  });

  it('tolerant of any order across generations: both deliveries shuffled together, with duplicates, fold to the in-order view', () => {
    fc.assert(
      fc.property(readings(false, redeliveredHistories), ({ history, order }) => {
        expect(fold(order)).toEqual(fold(history.events));
      }),
    );
  });
});
