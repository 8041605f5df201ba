import type { EventData } from '@waybill/contracts';
import type { Decided } from './decider';
import { IN_FLIGHT, TransactionView } from './transaction-status.view';

/**
 * Decide: what the API may ask of a transaction, decided on its view. The events decided carry
 * their type and data; the caller gives them their envelope (ids derived from what they decide,
 * the time, the organisation) and publishes them, and the projection folds them like any other.
 */

/** A command on one transaction. Time comes in with the command. */
export type TransactionCommand =
  /** `POST …/accept`. */
  | { type: 'AcceptTransaction' }
  /** `POST …/redeliver`, and each match of a redelivery sweep. */
  | { type: 'RequestRedelivery'; metadata: { now: Date } };

/** An event a command decides on, before its envelope. */
export type CommandEvent =
  | { type: 'transaction.accepted.v1'; data: EventData<'transaction.accepted.v1'> }
  | { type: 'transaction.redelivery-requested.v1'; data: EventData<'transaction.redelivery-requested.v1'> };

export type CommandRejection =
  | { code: 'TRANSACTION_NOT_DISPATCHED'; detail: string }
  | { code: 'TRANSACTION_IN_FLIGHT'; detail: string };

export type TransactionDecision = Decided<CommandEvent, CommandRejection>;

/** Decides `command` on the transaction's view: the events to publish, or why not. */
export function decide(command: TransactionCommand, view: TransactionView): TransactionDecision {
  switch (command.type) {
    case 'AcceptTransaction':
      return decided('transaction.accepted.v1', decideAccept(view));
    case 'RequestRedelivery':
      return decided('transaction.redelivery-requested.v1', decideRedelivery(view, command.metadata.now));
    default:
      return assertNever(command);
  }
}

/** One command's decision: the data of the one event to publish (null: nothing left to do), or why not. */
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

function decided<T extends CommandEvent['type']>(type: T, decision: Decision<Extract<CommandEvent, { type: T }>['data']>): TransactionDecision {
  if (!decision.ok) return decision;
  return { ok: true, events: decision.event ? [{ type, data: decision.event } as Extract<CommandEvent, { type: T }>] : [] };
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
