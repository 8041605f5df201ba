import { v5 as uuidv5 } from 'uuid';
import { EventData, makeEvent, topicOf } from '@waybill/contracts';
import type { CommandEvent, TransactionView } from '@waybill/delivery';
import { OutgoingMessage, TYPE_HEADER } from '@waybill/messaging';

/** Namespace of the status service's command event ids (UUIDv5). */
const COMMAND_NAMESPACE = '8f1d3a52-6c0e-4b8e-9f57-2f0f6a1c9d11';

/**
 * The messages of the events a command decided on `view`, in their envelopes.
 *
 * The status service's events carry ids derived from what they decide (UUIDv5), not fresh ones:
 * two concurrent accepts of one delivery, or a redeliver racing a sweep over one generation,
 * publish the *same* event, which every reader (the projection, routing) applies once. So they
 * end in one ACCEPTED and one new delivery, with no lock across services.
 */
export function commandMessages(view: TransactionView, events: readonly CommandEvent[], now: Date): OutgoingMessage[] {
  return events.map((e) => {
    switch (e.type) {
      case 'transaction.accepted.v1':
        // One for the delivery accepted.
        return message(view, e.type, e.data, `${view.id}:${e.data.deliveryId ?? '-'}`, now);
      case 'transaction.redelivery-requested.v1':
        return message(view, e.type, e.data, redeliveryIdentity(view), now);
    }
  });
}

/**
 * A redelivery request, one for each state it can be asked from: the generation it redelivers and
 * the last answer routing gave to an earlier request (a redelivery that failed to route may be
 * asked for again), and a new identity past each refusal (a refused request may be asked again).
 */
function redeliveryIdentity(view: TransactionView): string {
  const settled = view.facts.settled?.stamp.eventId ?? '-';
  const refused = view.facts.refused ? `:${view.facts.refused.stamp.eventId}` : '';
  return `${view.id}:${view.generation}:${settled}${refused}`;
}

function message<T extends CommandEvent['type']>(view: TransactionView, type: T, data: EventData<T>, identity: string, now: Date): OutgoingMessage {
  const eventId = uuidv5(`${type}:${identity}`, COMMAND_NAMESPACE);
  return {
    topic: topicOf(type),
    key: view.id,
    value: makeEvent(type, { eventId, occurredAt: now.toISOString(), orgId: view.orgId, key: view.id, data }),
    headers: { [TYPE_HEADER]: type },
  };
}
