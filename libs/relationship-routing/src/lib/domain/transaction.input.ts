import { z } from 'zod';

const Id = z.string().trim().min(1).max(200);

export const CreateRelationshipInput = z
  .object({ senderId: Id, receiverId: Id, transactionType: Id, channelId: z.string().min(1).max(200).nullish() })
  .strict();
export type CreateRelationshipInput = z.infer<typeof CreateRelationshipInput>;

const TransactionFields = {
  payload: z.unknown().refine((v) => v !== undefined, 'is required'),
  businessNumber: z.string().max(200).nullish(),
  stream: z.enum(['LIVE', 'TEST']).default('LIVE'),
};

/** By relationship id, or by (sender, receiver, transaction type). */
export const SendTransactionInput = z.union([
  z.object({ relationshipId: Id, ...TransactionFields }).strict(),
  z.object({ senderId: Id, receiverId: Id, transactionType: Id, ...TransactionFields }).strict(),
]);
export type SendTransactionInput = z.infer<typeof SendTransactionInput>;

/** Largest payload accepted, in bytes (as stored: JSON text, or the document's UTF-8). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
