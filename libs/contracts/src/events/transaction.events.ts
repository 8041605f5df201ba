import { z } from 'zod';
import { Format } from '../format';

const iso = () => z.iso.datetime({ offset: true });

export const Stream = z.enum(['LIVE', 'TEST']);

/** What the partner receives about the transaction, beside its payload. */
export const TransactionHeader = z.object({
  id: z.string(),
  relationshipId: z.string(),
  senderId: z.string(),
  receiverId: z.string(),
  transactionType: z.string(),
  businessNumber: z.string().nullable(),
  stream: Stream,
  createdAt: iso(),
});
export type TransactionHeader = z.infer<typeof TransactionHeader>;

export const TransactionReceivedV1 = TransactionHeader.extend({
  channelId: z.string(),
  format: Format,
  payloadBytes: z.number().int().nonnegative(),
});

/**
 * v2 also names the transaction's first delivery (its id; generation 1 on `channelId`): what
 * `transaction.routed.v1` said in an event of its own, which routing now sends only for
 * redeliveries. One event fewer per transaction for every reader of the transaction events.
 */
export const TransactionReceivedV2 = TransactionReceivedV1.extend({
  deliveryId: z.string(),
  generation: z.number().int().positive(),
});

export const TransactionRoutedV1 = z.object({
  transactionId: z.string(),
  channelId: z.string(),
  deliveryId: z.string(),
  generation: z.number().int().positive(),
});

/** `waybill.deliveries`, key channelId: one delivery (a generation) of one transaction. */
export const DeliveryRequestedV1 = z.object({
  deliveryId: z.string(),
  transactionId: z.string(),
  channelId: z.string(),
  generation: z.number().int().positive(),
  format: Format,
  transaction: TransactionHeader,
  /** A JSON value for JSON channels; the document text for XML and X12. */
  payload: z.unknown(),
});
export type DeliveryRequestedV1 = z.infer<typeof DeliveryRequestedV1>;

/**
 * v2 carries the payload as text: a JSON payload exactly as it was sent (numbers of any size and
 * precision, every escape as written), which a parsed value in v1 could not keep; XML and X12
 * documents as before.
 */
export const DeliveryRequestedV2 = DeliveryRequestedV1.omit({ payload: true }).extend({
  /** The payload as sent: JSON text for JSON channels, the document for XML and X12. */
  payloadText: z.string(),
});
export type DeliveryRequestedV2 = z.infer<typeof DeliveryRequestedV2>;

/** A delivery as a dispatcher holds it: requested in either version (stored rows may hold v1). */
export type DeliveryRequest = DeliveryRequestedV1 | DeliveryRequestedV2;

/** The payload of a delivery as the text a partner receives. */
export function payloadTextOf(r: DeliveryRequest): string {
  if ('payloadText' in r && typeof r.payloadText === 'string') return r.payloadText;
  const { payload } = r as DeliveryRequestedV1;
  return r.format === 'JSON' ? (JSON.stringify(payload) ?? 'null') : String(payload);
}

/** The envelope's fields before the payload (see `envelopeHead`). */
export type EnvelopeHead<D> = Pick<
  TransactionHeader,
  'id' | 'relationshipId' | 'senderId' | 'receiverId' | 'transactionType' | 'businessNumber' | 'stream' | 'createdAt'
> & { delivery: D };

/**
 * The envelope's fields before the payload, in the order partners see them: a push's JSON body,
 * a pull message, and the request routing shows as sent all start with these.
 */
export function envelopeHead<D extends { id: string; attempt: number } | null>(t: TransactionHeader, delivery: D): EnvelopeHead<D> {
  return {
    id: t.id,
    relationshipId: t.relationshipId,
    senderId: t.senderId,
    receiverId: t.receiverId,
    transactionType: t.transactionType,
    businessNumber: t.businessNumber,
    stream: t.stream,
    createdAt: t.createdAt,
    delivery,
  };
}

export const AttemptOutcome = z.enum(['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED', 'RETRYABLE']);
export type AttemptOutcome = z.infer<typeof AttemptOutcome>;

export const DeliveryAttemptedV1 = z.object({
  transactionId: z.string(),
  deliveryId: z.string(),
  channelId: z.string(),
  attempt: z.number().int().positive(),
  at: iso(),
  statusCode: z.number().int().nullable(),
  outcome: AttemptOutcome,
  durationMs: z.number().int().nonnegative(),
  error: z.string().nullable(),
  /** The first KiB of the partner's answer. */
  responseExcerpt: z.string().nullable(),
});

export const DeliveryRetryScheduledV1 = z.object({
  transactionId: z.string(),
  deliveryId: z.string(),
  attempt: z.number().int().positive(),
  dueAt: iso(),
});

export const DeliveryDeferredV1 = z.object({
  transactionId: z.string(),
  deliveryId: z.string(),
  reason: z.enum(['CIRCUIT_OPEN', 'CHANNEL_DISABLED', 'CHANNEL_BUSY']),
  until: iso().nullable(),
});

/**
 * An attempt has been under way for a while: a request in flight longer than the dispatcher's
 * slow bound, or a pull channel's lease. Not sent for attempts answered quickly (they are
 * recorded by `delivery.attempted` a moment later): the status shows SENDING only when there is
 * time to see it, at no cost per delivery.
 */
export const DeliveryStartedV1 = z.object({
  transactionId: z.string(),
  deliveryId: z.string(),
  channelId: z.string(),
  attempt: z.number().int().min(1),
  at: iso(),
});

const Terminal = z.object({ transactionId: z.string(), deliveryId: z.string().nullable() });

export const TransactionAcceptedV1 = Terminal.extend({ by: z.enum(['PARTNER', 'API', 'PULL']) });
export const TransactionDispatchedV1 = Terminal;
export const TransactionRejectedV1 = Terminal.extend({ statusCode: z.number().int().nullable() });
export const TransactionFailedV1 = Terminal.extend({ reason: z.string() });
export const TransactionRedeliveryRequestedV1 = z.object({
  transactionId: z.string(),
  requestedAt: iso(),
  /**
   * The generation this request redelivers (the current one when it was asked for): a later
   * `transaction.routed` answers it, whatever the producers' clocks say. Optional: added later.
   */
  generation: z.number().int().nonnegative().optional(),
});

/**
 * Routing's answer to a redelivery request it cannot route (the relationship was deleted, or has no
 * channel any more): nothing was sent, and the transaction's status goes back to what it was
 * before the request. Names the request it answers (its event id).
 */
export const TransactionRedeliveryRefusedV1 = z.object({
  transactionId: z.string(),
  requestId: z.string(),
  reason: z.string(),
});
