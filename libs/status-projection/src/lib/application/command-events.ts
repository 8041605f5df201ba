import { v5 as uuidv5 } from 'uuid';
import { EventData, makeEvent, topicOf } from '@waybill/contracts';
import type { TransactionView } from '@waybill/delivery';
import { OutgoingMessage, TYPE_HEADER } from '@waybill/messaging';

/** Namespace of the status service's command event ids (UUIDv5). */
const COMMAND_NAMESPACE = '8f1d3a52-6c0e-4b8e-9f57-2f0f6a1c9d11';

/**
 * The status service's events carry ids derived from what they decide (UUIDv5), not fresh ones:
 * two concurrent accepts of one delivery, or a redeliver racing a sweep over one generation,
 * publish the *same* event, which every reader (the projection, routing) applies once. So they
 * end in one ACCEPTED and one new delivery, with no lock across services.
 */
function commandMessage<T extends 'transaction.accepted.v1' | 'transaction.redelivery-requested.v1'>(
  type: T,
  identity: string,
  view: TransactionView,
  data: EventData<T>,
  now: Date,
): OutgoingMessage {
  const eventId = uuidv5(`${type}:${identity}`, COMMAND_NAMESPACE);
  return {
    topic: topicOf(type),
    key: view.id,
    value: makeEvent(type, { eventId, occurredAt: now.toISOString(), orgId: view.orgId, key: view.id, data }),
    headers: { [TYPE_HEADER]: type },
  };
}

/** `transaction.accepted` by the API, for the delivery the view speaks of. */
export function acceptMessage(view: TransactionView, data: EventData<'transaction.accepted.v1'>, now: Date): OutgoingMessage {
  return commandMessage('transaction.accepted.v1', `${view.id}:${data.deliveryId ?? '-'}`, view, data, now);
}

/**
 * `transaction.redelivery-requested`, one for each state it can be asked from: the generation it
 * redelivers and the last answer routing gave to an earlier request (a redelivery that failed to
 * route may be asked for again).
 */
export function redeliveryMessage(view: TransactionView, data: EventData<'transaction.redelivery-requested.v1'>, now: Date): OutgoingMessage {
  const settled = view.facts.settled?.stamp.eventId ?? '-';
  // A request routing refused may be asked for again: a new identity past each refusal.
  const refused = view.facts.refused ? `:${view.facts.refused.stamp.eventId}` : '';
  return commandMessage('transaction.redelivery-requested.v1', `${view.id}:${view.generation}:${settled}${refused}`, view, data, now);
}
