import { z } from 'zod';
import { identifier, safeText } from '@waybill/contracts';

/** Ids and identifiers: text (no control characters, well-formed), trimmed, 1–200 characters. */
const Id = safeText().trim().min(1).max(200);

export const CreateRelationshipInput = z
  .object({
    senderId: Id,
    receiverId: Id,
    transactionType: Id,
    channelId: identifier().nullish().describe('Omitted: the organisation’s default inbound channel, as it is now.'),
  })
  .strict();
export type CreateRelationshipInput = z.infer<typeof CreateRelationshipInput>;

/** `PATCH /v1/relationships/{id}`: assigns or overrides the channel; null unassigns. */
export const UpdateRelationshipInput = z.object({ channelId: identifier().nullable() }).strict();
export type UpdateRelationshipInput = z.infer<typeof UpdateRelationshipInput>;

const TransactionFields = {
  payload: z
    .unknown()
    .refine((v) => v !== undefined, 'is required')
    .describe('Any JSON value for a JSON channel; the document as a string for an XML or X12 channel. At most 1 MiB.'),
  businessNumber: safeText().max(200).nullish(),
  stream: z.enum(['LIVE', 'TEST']).default('LIVE'),
};

/** By relationship id, or by (sender, receiver, transaction type). */
export const SendTransactionInput = z.union([
  z.object({ relationshipId: Id, ...TransactionFields }).strict(),
  z.object({ senderId: Id, receiverId: Id, transactionType: Id, ...TransactionFields }).strict(),
]);
export type SendTransactionInput = z.infer<typeof SendTransactionInput>;

export const IdempotencyKey = identifier(255);

/** Most transactions in one batch. */
export const MAX_BATCH_ITEMS = 500;

/** `POST /v1/transactions/batch`: the envelope is checked whole, each item on its own. */
export const SendBatchInput = z
  .object({ transactions: z.array(z.unknown()).min(1).max(MAX_BATCH_ITEMS) })
  .strict();

/** How a batch item looks (for the docs): a transaction and its optional `idempotencyKey`. */
export const BatchItemInput = z.union([
  SendTransactionInput.options[0].extend({ idempotencyKey: IdempotencyKey.optional() }),
  SendTransactionInput.options[1].extend({ idempotencyKey: IdempotencyKey.optional() }),
]);
export const SendBatchDoc = z.object({ transactions: z.array(BatchItemInput).min(1).max(MAX_BATCH_ITEMS) }).strict();

/** Deepest nesting of a JSON payload accepted (`[[1]]` nests 2 levels; a scalar 0). */
export const MAX_PAYLOAD_DEPTH = 256;

/** Largest payload accepted, in bytes (as stored: JSON text, or the document's UTF-8). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * Largest body of `POST /v1/transactions` (bytes): room for a 1 MiB payload even where JSON
 * escaping doubles it (each quote, backslash or line break of an XML or X12 document is two
 * characters in a JSON string), plus 64 KiB for the envelope — 2,162,688 bytes.
 */
export const MAX_TRANSACTION_BODY_BYTES = 2 * MAX_PAYLOAD_BYTES + 64 * 1024;

/** Largest body of `POST /v1/transactions/batch` (bytes): 32 MiB. */
export const MAX_BATCH_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Reads a transaction body: by relationship id when it names one, by (sender, receiver, type)
 * otherwise, so that a refusal names the fields of the form the caller meant (a bare union would
 * only say "invalid input").
 */
export function sendTransactionSchema(body: unknown): z.ZodType<SendTransactionInput> {
  const byId = body !== null && typeof body === 'object' && !Array.isArray(body) && 'relationshipId' in body;
  return byId ? SendTransactionInput.options[0] : SendTransactionInput.options[1];
}
