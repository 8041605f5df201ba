import type { Decider } from './decider';
import { decide, TransactionCommand, TransactionDecision } from './transaction-status.decide';
import { evolve, TransactionEvent } from './transaction-status.evolve';
import { initialView, TransactionView } from './transaction-status.view';

/**
 * A transaction's status, folded from its events on `waybill.transaction-events`, and the
 * commands on it — one decider in four parts:
 *
 * - facts (`transaction-status.facts.ts`): the order-free state the fold keeps, and how two facts merge;
 * - evolve (`transaction-status.evolve.ts`): what each event adds to the facts;
 * - view (`transaction-status.view.ts`): the status and the rest the API shows, derived from the facts alone;
 * - decide (`transaction-status.decide.ts`): accept and redeliver, decided on the view.
 *
 * The projection folds with `evolveAll` (a batch of one transaction's events, the view derived
 * once); the status service decides with `transactionDecider.decide`.
 */
export const transactionDecider: Decider<TransactionView, TransactionCommand, TransactionEvent, TransactionDecision, [id: string, orgId: string, at: string]> = {
  initialState: initialView,
  evolve,
  decide,
};

export type { AcceptedBy, DeliveryFacts, Outcome, Stamp, TransactionFacts, TransactionHeaderFacts } from './transaction-status.facts';
export { attemptOf, IN_FLIGHT, initialView, TRANSACTION_STATUSES, viewOf } from './transaction-status.view';
export type { Attempt, TransactionStatus, TransactionView } from './transaction-status.view';
export { evolve, evolveAll, isTransactionEvent } from './transaction-status.evolve';
export type { TransactionEvent } from './transaction-status.evolve';
export { decideAccept, decideRedelivery } from './transaction-status.decide';
export type { CommandEvent, CommandRejection, Decision, TransactionCommand, TransactionDecision } from './transaction-status.decide';
