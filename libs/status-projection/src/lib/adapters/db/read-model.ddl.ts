import { quoteIdent } from '@waybill/persistence';
import { TRANSACTION_COLUMNS, TransactionColumn } from '../../application/projection/transaction-row';


/**
 * The tables of the read model: everything folded from `waybill.transaction-events`, and nothing
 * else. A rebuild creates them anew in another schema and moves them into `status` in one
 * database transaction; alerts and redelivery sweeps are not part of it. Listed in the order the
 * writer takes its locks, which is the order a switch must lock them in (or it could deadlock with
 * a batch halfway through).
 */
export const READ_MODEL_TABLES = ['transaction_events', 'transactions', 'delivery_attempts', 'transaction_counts', 'delivery_counts'] as const;

/** The SQL type of each column of a transaction's row (its shape: `transaction-row.ts`). */
const TRANSACTION_COLUMN_TYPES: Record<TransactionColumn, string> = {
  id: 'text COLLATE "C" PRIMARY KEY',
  org_id: 'text COLLATE "C" NOT NULL',
  relationship_id: 'text COLLATE "C"',
  channel_id: 'text COLLATE "C"',
  sender_id: 'text',
  receiver_id: 'text',
  transaction_type: 'text',
  business_number: 'text',
  stream: 'text',
  created_at: 'timestamptz',
  status: 'text COLLATE "C" NOT NULL',
  delivery_id: 'text',
  generation: 'int NOT NULL',
  next_attempt_at: 'timestamptz',
  accepted_by: 'text',
  updated_at: 'timestamptz NOT NULL',
  facts: 'jsonb NOT NULL',
};

/**
 * The read model's DDL, in `schema`. The live tables were created by the same statements (see
 * the migration), so a rebuilt model has exactly their shape. Changing the read model means a
 * migration that brings the live tables to the new shape *and* a change here, or a rebuild.
 *
 * - `transactions`: one row a transaction. `facts` is the fold's order-free state; the other
 *   columns are derived from it for queries. Rows whose `transaction.received` is not read yet
 *   have no `created_at` and are left out of lists (they cannot be placed in them yet).
 *   The list indexes put `status` right before the sort key, so that every list — one status,
 *   several, or all six — is a merge of index range scans that each stop after one page.
 *   `fillfactor` leaves room for HOT updates: most events change no indexed column.
 * - `transaction_events`: every event of every transaction, for `GET …/events`. Its primary key
 *   is also the projection's dedupe record: an event whose id is already there is not applied
 *   again, in the same database transaction as the rows it changes.
 * - `delivery_attempts`: one row a `delivery.attempted` event (with its organisation).
 * - `transaction_counts`: transactions by organisation and status, kept by each batch's deltas in
 *   its own transaction, one row per organisation, status and shard (the partition the batch came
 *   from, so that partitions read at once never wait on one another's counters).
 *   `waybill_transactions` and `GET /v1/stats/transactions` sum them: neither costs anything
 *   however large the table (counting a million rows takes ~1 s).
 * - `delivery_counts`: attempts by organisation, minute and outcome (and shard, likewise), added
 *   in the statement that stores the attempts, from the rows it inserted (so an attempt read
 *   twice is counted once): `GET /v1/stats/deliveries` reads a day as at most 1,440 minutes.
 */
export function readModelDdl(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `CREATE TABLE ${s}.transactions (
       ${TRANSACTION_COLUMNS.map((c) => `${c} ${TRANSACTION_COLUMN_TYPES[c]}`).join(',\n       ')}
     ) WITH (fillfactor = 85)`,
    `CREATE INDEX transactions_by_status ON ${s}.transactions (org_id, status, created_at DESC, id DESC)
       WHERE created_at IS NOT NULL`,
    `CREATE INDEX transactions_by_channel ON ${s}.transactions (org_id, channel_id, status, created_at DESC, id DESC)
       WHERE created_at IS NOT NULL`,
    `CREATE INDEX transactions_by_relationship ON ${s}.transactions (org_id, relationship_id, status, created_at DESC, id DESC)
       WHERE created_at IS NOT NULL`,
    `CREATE TABLE ${s}.delivery_attempts (
       transaction_id text COLLATE "C" NOT NULL,
       event_id uuid NOT NULL,
       delivery_id text NOT NULL,
       attempt int NOT NULL,
       at timestamptz NOT NULL,
       status_code int,
       outcome text NOT NULL,
       duration_ms int NOT NULL,
       error text,
       response_excerpt text,
       org_id text COLLATE "C",
       PRIMARY KEY (transaction_id, event_id)
     )`,
    `CREATE TABLE ${s}.transaction_events (
       transaction_id text COLLATE "C" NOT NULL,
       event_id uuid NOT NULL,
       type text NOT NULL,
       occurred_at timestamptz NOT NULL,
       data jsonb NOT NULL,
       PRIMARY KEY (transaction_id, event_id)
     )`,
    transactionCountsDdl(s),
    deliveryCountsDdl(s),
  ];
}

/** `transaction_counts` (`s` quoted). */
export function transactionCountsDdl(s: string): string {
  return `CREATE TABLE ${s}.transaction_counts (
       org_id text COLLATE "C" NOT NULL,
       status text COLLATE "C" NOT NULL,
       shard int NOT NULL,
       n bigint NOT NULL,
       PRIMARY KEY (org_id, status, shard)
     )`;
}

/** `delivery_counts` (`s` quoted). */
export function deliveryCountsDdl(s: string): string {
  return `CREATE TABLE ${s}.delivery_counts (
       org_id text COLLATE "C" NOT NULL,
       minute timestamptz NOT NULL,
       outcome text COLLATE "C" NOT NULL,
       shard int NOT NULL,
       n bigint NOT NULL,
       PRIMARY KEY (org_id, minute, outcome, shard)
     )`;
}
