import { TRANSACTION_STATUSES, TransactionStatus } from '@waybill/delivery';
import { quoteIdent } from '@waybill/persistence';
import type { Keyset } from '@waybill/platform';
import { LIST_COLUMNS } from '../projection/transaction-row';
import { STATUS_SCHEMA } from '../status.database';

/** The filters of `GET /v1/transactions` and of the redelivery sweep. */
export interface TransactionFilter {
  orgId: string;
  /** Any of these; empty or absent: every status. */
  statuses?: readonly TransactionStatus[];
  channelId?: string;
  relationshipId?: string;
  /** Inclusive (ISO 8601). */
  createdAfter?: string;
  /** Exclusive (ISO 8601): `createdAfter`/`createdBefore` windows tile without overlap. */
  createdBefore?: string;
}

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/**
 * One page of transactions, newest first, after `after` (a keyset position: created_at, then id).
 *
 * Each status is its own branch, ordered by an index whose columns end in
 * `status, created_at DESC, id DESC` after the equality filters, and limited to one page; the
 * branches are merged (Merge Append) and cut to one page again. So a page costs at most
 * `statuses × (limit + 1)` index entries, however many rows match and however rare the status —
 * a single scan filtering `status = ANY(…)` would read past every row of the other statuses.
 * Rows are placed by `created_at`, which never changes once known, so a walk through the pages
 * neither repeats nor skips a row while new transactions arrive (they sort before the walk's
 * position) or rows change status.
 */
export function listQuery(filter: TransactionFilter, after: Keyset | null, limit: number, schema = STATUS_SCHEMA): SqlQuery {
  const values: unknown[] = [];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const common = commonPredicates(filter, param);
  if (after) common.push(`(created_at, id) < (${param(after.at)}::timestamptz, ${param(after.id)}::text)`);
  const lim = param(limit);
  const statuses = filter.statuses && filter.statuses.length > 0 ? [...new Set(filter.statuses)] : TRANSACTION_STATUSES;
  const branches = statuses.map(
    (status) =>
      `(SELECT ${LIST_COLUMNS} FROM ${quoteIdent(schema)}.transactions
         WHERE ${[...common, `status = ${param(status)}`].join(' AND ')}
         ORDER BY created_at DESC, id DESC LIMIT ${lim})`,
  );
  const text =
    branches.length === 1
      ? branches[0]
      : `SELECT * FROM (${branches.join('\n UNION ALL ')}) page ORDER BY created_at DESC, id DESC LIMIT ${lim}`;
  return { text, values };
}

/**
 * The sweep's snapshot: every match's id copied into the sweep's items by the database itself,
 * so that no number of matches is ever held in memory.
 */
export function sweepSnapshotQuery(sweepId: string, filter: TransactionFilter, schema = STATUS_SCHEMA): SqlQuery {
  const values: unknown[] = [sweepId];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const where = commonPredicates(filter, param);
  if (filter.statuses && filter.statuses.length > 0) where.push(`status = ANY(${param(filter.statuses)}::text[])`);
  const s = quoteIdent(schema);
  return {
    text: `INSERT INTO ${s}.redelivery_sweep_items (sweep_id, transaction_id, org_id, status)
           SELECT $1, id, org_id, status FROM ${s}.transactions WHERE ${where.join(' AND ')}`,
    values,
  };
}

/** How many transactions a sweep with `filter` would match now (its dry run). */
export function sweepCountQuery(filter: TransactionFilter, schema = STATUS_SCHEMA): SqlQuery {
  const values: unknown[] = [];
  const param = (v: unknown): string => {
    values.push(v);
    return `$${values.length}`;
  };
  const where = commonPredicates(filter, param);
  if (filter.statuses && filter.statuses.length > 0) where.push(`status = ANY(${param(filter.statuses)}::text[])`);
  return { text: `SELECT count(*)::int AS n FROM ${quoteIdent(schema)}.transactions WHERE ${where.join(' AND ')}`, values };
}

function commonPredicates(filter: TransactionFilter, param: (v: unknown) => string): string[] {
  const where = [`org_id = ${param(filter.orgId)}`, 'created_at IS NOT NULL'];
  if (filter.channelId !== undefined) where.push(`channel_id = ${param(filter.channelId)}`);
  if (filter.relationshipId !== undefined) where.push(`relationship_id = ${param(filter.relationshipId)}`);
  if (filter.createdAfter !== undefined) where.push(`created_at >= ${param(filter.createdAfter)}::timestamptz`);
  if (filter.createdBefore !== undefined) where.push(`created_at < ${param(filter.createdBefore)}::timestamptz`);
  return where;
}
