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

/**
 * Routing's answer to a channel marked `deleting` (key channelId): how many relationships use it —
 * counted once no new relationship can take it any more, so the count cannot grow after it — and a
 * few of their ids. The registry deletes the channel only on a report of none for its request.
 */
export const ChannelUsageReportedV1 = z.object({
  channelId: z.string(),
  requestId: z.string(),
  count: z.number().int().nonnegative(),
  relationshipIds: z.array(z.string()).max(20),
});
