import { specification } from '@waybill/testing';
import { initialView, transactionDecider } from './transaction-status';
import {
  accepted,
  attempted,
  CH2,
  D1,
  D2,
  event,
  ORG,
  received,
  redeliveryRequested,
  retryScheduled,
  routed,
  T0,
  time,
  TX,
  TxEvent,
} from './__fixtures__/transaction-events';

/** The commands' decisions, as given / when / then: given a transaction's events, when the API asks, then the events to publish or why not. */

const transaction = specification({ ...transactionDecider, initialState: () => initialView(TX, ORG, time(0)) });

/** A received and routed transaction, first delivery D1 on CH. */
const SUBMITTED = [received(0), routed(0)];

describe('transaction commands: given its events, when the API asks, then the events to publish or why not', () => {
  const ACCEPT = { type: 'AcceptTransaction' } as const;
  const NOW = new Date(T0 + 3_600_000);
  const REDELIVER = { type: 'RequestRedelivery', metadata: { now: NOW } } as const;
  const DISPATCHED = [...SUBMITTED, attempted(1, 1, 202, 'DISPATCHED')];

  it('accept: a DISPATCHED transaction is accepted by the API, for the delivery its status speaks of', () => {
    transaction
      .given(...DISPATCHED)
      .whenCommand(ACCEPT)
      .then({ type: 'transaction.accepted.v1', data: { transactionId: TX, deliveryId: D1, by: 'API' } });
  });

  it('accept: once accepted by the API there is nothing left to do (a repeat after a 503 is safe)', () => {
    transaction.given(...DISPATCHED, accepted(2, null, 'API')).whenCommand(ACCEPT).then();
  });

  it.each<[string, TxEvent[]]>([
    ['PENDING', SUBMITTED],
    ['SENDING', [...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE')]],
    ['ACCEPTED by the partner', [...SUBMITTED, attempted(1, 1, 200, 'ACCEPTED')]],
    ['REJECTED', [...SUBMITTED, attempted(1, 1, 400, 'REJECTED')]],
    ['FAILED', [...SUBMITTED, attempted(1, 1, 404, 'FAILED')]],
  ])('accept: a transaction %s is refused with TRANSACTION_NOT_DISPATCHED', (_, history) => {
    transaction.given(...history).whenCommand(ACCEPT).thenError({ code: 'TRANSACTION_NOT_DISPATCHED' });
  });

  it('accept: after a redelivery, the accept names the new delivery', () => {
    transaction
      .given(...SUBMITTED, attempted(1, 1, 404, 'FAILED'), redeliveryRequested(50), routed(51, 2, D2, CH2), attempted(52, 1, 202, 'DISPATCHED', D2))
      .whenCommand(ACCEPT)
      .then({ type: 'transaction.accepted.v1', data: { transactionId: TX, deliveryId: D2, by: 'API' } });
  });

  it.each<[string, TxEvent[]]>([
    ['ACCEPTED', [...SUBMITTED, attempted(1, 1, 200, 'ACCEPTED')]],
    ['DISPATCHED', DISPATCHED],
    ['REJECTED', [...SUBMITTED, attempted(1, 1, 400, 'REJECTED')]],
    ['FAILED', [...SUBMITTED, attempted(1, 1, 404, 'FAILED')]],
  ])('redeliver: a transaction %s gets a request for a new delivery, naming the generation it supersedes, at the time given', (_, history) => {
    transaction
      .given(...history)
      .whenCommand(REDELIVER)
      .then({ type: 'transaction.redelivery-requested.v1', data: { transactionId: TX, requestedAt: NOW.toISOString(), generation: 1 } });
  });

  it.each<[string, TxEvent[]]>([
    ['PENDING', SUBMITTED],
    ['SENDING', [...SUBMITTED, attempted(1, 1, 503, 'RETRYABLE'), retryScheduled(1, 2, 31)]],
    ['PENDING its redelivery', [...SUBMITTED, attempted(1, 1, 404, 'FAILED'), redeliveryRequested(50)]],
  ])('redeliver: a transaction %s is refused with TRANSACTION_IN_FLIGHT', (_, history) => {
    transaction.given(...history).whenCommand(REDELIVER).thenError({ code: 'TRANSACTION_IN_FLIGHT' });
  });

  it('redeliver: a request routing refused may be asked for again', () => {
    const request = redeliveryRequested(50);
    const refusal = event('transaction.redelivery-refused.v1', { transactionId: TX, requestId: request.eventId, reason: 'the relationship has no channel' }, 51);
    transaction
      .given(...SUBMITTED, attempted(1, 1, 404, 'FAILED'), request, refusal)
      .whenCommand(REDELIVER)
      .then({ type: 'transaction.redelivery-requested.v1', data: { transactionId: TX, requestedAt: NOW.toISOString(), generation: 1 } });
  });
});
