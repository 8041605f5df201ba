import type { TransactionView } from '@waybill/delivery';

/**
 * One transaction's row in the read model (`transactions`): the fold's `facts`, and the view
 * derived from them as columns for the lists' filters and indexes. The one place the row's shape
 * is written: the writer stores {@link toRow} of each view, the DDL types exactly these columns
 * (`Record<TransactionColumn, string>`), and the queries read them back.
 */
export const TRANSACTION_COLUMNS = [
  'id',
  'org_id',
  'relationship_id',
  'channel_id',
  'sender_id',
  'receiver_id',
  'transaction_type',
  'business_number',
  'stream',
  'created_at',
  'status',
  'delivery_id',
  'generation',
  'next_attempt_at',
  'accepted_by',
  'updated_at',
  'facts',
] as const;

export type TransactionColumn = (typeof TRANSACTION_COLUMNS)[number];

/** The row of a view, as the writer stores it (times as ISO 8601 text). */
export function toRow(v: TransactionView) {
  return {
    id: v.id,
    org_id: v.orgId,
    relationship_id: v.relationshipId,
    channel_id: v.channelId,
    sender_id: v.senderId,
    receiver_id: v.receiverId,
    transaction_type: v.transactionType,
    business_number: v.businessNumber,
    stream: v.stream,
    created_at: v.createdAt,
    status: v.status,
    delivery_id: v.deliveryId,
    generation: v.generation,
    next_attempt_at: v.nextAttemptAt,
    accepted_by: v.acceptedBy,
    updated_at: v.updatedAt,
    facts: v.facts,
  } satisfies Record<TransactionColumn, unknown>;
}

export type TransactionRow = ReturnType<typeof toRow>;

/** The columns a list shows: all but the fold's facts. */
export const LIST_COLUMNS = TRANSACTION_COLUMNS.filter((c) => c !== 'facts').join(', ');

/** A row as a list reads it back (`LIST_COLUMNS`; PostgreSQL gives times as `Date`). */
export type ListedTransaction = Omit<TransactionRow, 'facts' | 'created_at' | 'next_attempt_at' | 'updated_at'> & {
  created_at: Date | null;
  next_attempt_at: Date | null;
  updated_at: Date;
};
