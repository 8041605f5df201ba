import { z } from 'zod';

/** `waybill.relationships`, key relationshipId, compacted; a delete is a tombstone. */
export const RelationshipUpsertedV1 = z.object({
  id: z.string(),
  orgId: z.string(),
  version: z.number().int().positive(),
  senderId: z.string(),
  receiverId: z.string(),
  transactionType: z.string(),
  channelId: z.string().nullable(),
  channelSource: z.enum(['EXPLICIT', 'DEFAULT']).nullable(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type RelationshipState = z.infer<typeof RelationshipUpsertedV1>;
