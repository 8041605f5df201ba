import { z } from 'zod';
import { EnvelopeSchema, EventEnvelope } from './envelope';
import { Topics, TopicName } from './topics';
import { ApiKeyIssuedV1, ApiKeyRevokedV1 } from './events/access.events';
import { ChannelUpsertedV1, OrgSettingsChangedV1 } from './events/channel.events';
import { ChannelUsageReportedV1, RelationshipUpsertedV1 } from './events/relationship.events';
import {
  DeliveryAttemptedV1,
  DeliveryDeferredV1,
  DeliveryRequestedV1,
  DeliveryRequestedV2,
  DeliveryRetryScheduledV1,
  DeliveryStartedV1,
  TransactionAcceptedV1,
  TransactionDispatchedV1,
  TransactionFailedV1,
  TransactionReceivedV1,
  TransactionReceivedV2,
  TransactionRedeliveryRefusedV1,
  TransactionRedeliveryRequestedV1,
  TransactionRejectedV1,
  TransactionRoutedV1,
} from './events/transaction.events';
import { ChannelCircuitClosedV1, ChannelCircuitOpenedV1, DeliveryExhaustedV1 } from './events/alert.events';

/** Every event type, the topic it travels on, and the schema of its `data`. */
export const EVENT_CATALOGUE = {
  'api-key.issued.v1': { topic: Topics.access, data: ApiKeyIssuedV1 },
  'api-key.revoked.v1': { topic: Topics.access, data: ApiKeyRevokedV1 },
  'channel.upserted.v1': { topic: Topics.channels, data: ChannelUpsertedV1 },
  'org.settings-changed.v1': { topic: Topics.channels, data: OrgSettingsChangedV1 },
  'relationship.upserted.v1': { topic: Topics.relationships, data: RelationshipUpsertedV1 },
  'channel.usage-reported.v1': { topic: Topics.relationships, data: ChannelUsageReportedV1 },
  'delivery.requested.v1': { topic: Topics.deliveries, data: DeliveryRequestedV1 },
  'delivery.requested.v2': { topic: Topics.deliveries, data: DeliveryRequestedV2 },
  'transaction.received.v1': { topic: Topics.transactionEvents, data: TransactionReceivedV1 },
  'transaction.received.v2': { topic: Topics.transactionEvents, data: TransactionReceivedV2 },
  'transaction.routed.v1': { topic: Topics.transactionEvents, data: TransactionRoutedV1 },
  'delivery.started.v1': { topic: Topics.transactionEvents, data: DeliveryStartedV1 },
  'delivery.attempted.v1': { topic: Topics.transactionEvents, data: DeliveryAttemptedV1 },
  'delivery.retry-scheduled.v1': { topic: Topics.transactionEvents, data: DeliveryRetryScheduledV1 },
  'delivery.deferred.v1': { topic: Topics.transactionEvents, data: DeliveryDeferredV1 },
  'transaction.accepted.v1': { topic: Topics.transactionEvents, data: TransactionAcceptedV1 },
  'transaction.dispatched.v1': { topic: Topics.transactionEvents, data: TransactionDispatchedV1 },
  'transaction.rejected.v1': { topic: Topics.transactionEvents, data: TransactionRejectedV1 },
  'transaction.failed.v1': { topic: Topics.transactionEvents, data: TransactionFailedV1 },
  // On a topic of its own, so that routing reads only these, not every transaction's events; the
  // ones published before it had its own topic are still read on the transaction events.
  'transaction.redelivery-requested.v1': {
    topic: Topics.redeliveryRequests,
    data: TransactionRedeliveryRequestedV1,
    formerTopics: [Topics.transactionEvents],
  },
  'transaction.redelivery-refused.v1': { topic: Topics.transactionEvents, data: TransactionRedeliveryRefusedV1 },
  'channel.circuit-opened.v1': { topic: Topics.alerts, data: ChannelCircuitOpenedV1 },
  'channel.circuit-closed.v1': { topic: Topics.alerts, data: ChannelCircuitClosedV1 },
  'delivery.exhausted.v1': { topic: Topics.alerts, data: DeliveryExhaustedV1 },
} as const satisfies Record<string, { topic: TopicName; data: z.ZodType; formerTopics?: readonly TopicName[] }>;

type Catalogue = typeof EVENT_CATALOGUE;
export type EventType = keyof Catalogue;
export type EventData<T extends EventType> = z.infer<Catalogue[T]['data']>;

/** A validated event: the envelope with `data` typed by `type`. A discriminated union over every type. */
export type WaybillEvent = { [T in EventType]: EventEnvelope<T, EventData<T>> }[EventType];
export type EventOf<T extends EventType> = Extract<WaybillEvent, { type: T }>;

export type ParseResult = { ok: true; event: WaybillEvent } | { ok: false; reason: string };

export function isEventType(type: string): type is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOGUE, type);
}

export function topicOf(type: EventType): TopicName {
  return EVENT_CATALOGUE[type].topic;
}

/**
 * Validates an event at a consumer's edge: the envelope, a known type on its own topic, and the
 * data's schema. Never throws; a failure says why, for the dead-letter record.
 */
export function parseEvent(raw: unknown, topic?: string): ParseResult {
  const envelope = EnvelopeSchema.safeParse(raw);
  if (!envelope.success) return { ok: false, reason: `envelope: ${z.prettifyError(envelope.error)}` };
  const { type } = envelope.data;
  if (!isEventType(type)) return { ok: false, reason: `unknown event type ${JSON.stringify(type)}` };
  const entry: { topic: TopicName; data: z.ZodType; formerTopics?: readonly TopicName[] } = EVENT_CATALOGUE[type];
  if (topic !== undefined && entry.topic !== topic && !entry.formerTopics?.includes(topic as TopicName)) {
    return { ok: false, reason: `${type} does not belong on ${topic}` };
  }
  const data = entry.data.safeParse(envelope.data.data);
  if (!data.success) return { ok: false, reason: `${type}: ${z.prettifyError(data.error)}` };
  return { ok: true, event: { ...envelope.data, type, data: data.data } as WaybillEvent };
}

/** Builds an event; ids and time come in from the caller, so this stays pure. */
export function makeEvent<T extends EventType>(
  type: T,
  fields: { eventId: string; occurredAt: string; orgId: string; key: string; data: EventData<T> },
): EventOf<T> {
  return { type, ...fields } as unknown as EventOf<T>;
}
