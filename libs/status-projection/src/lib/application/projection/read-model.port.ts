import type { EntityManager } from 'typeorm';
import type { TransactionEvent, TransactionView } from '@waybill/delivery';

/** One transaction's row before and after a batch (before is null for a new row). */
export interface RowChange {
  before: TransactionView | null;
  after: TransactionView;
}

/** What a batch changed: the events applied (those read for the first time), and the rows. */
export interface AppliedBatch {
  events: TransactionEvent[];
  changes: RowChange[];
}

/**
 * The read model's storage, as the projection and its rebuild use it (implemented in
 * `adapters/db`: `postgresReadModel`). Every method works in a schema given by the caller: the
 * live one (`status`) or the one a rebuild fills.
 */
export interface ReadModel {
  /**
   * Folds a batch of transaction events into the rows in `schema`, inside the caller's database
   * transaction; an event already applied is not applied again. `shard`: the partition the batch
   * was read from (where its counts go).
   */
  apply(em: EntityManager, schema: string, events: readonly TransactionEvent[], shard?: number): Promise<AppliedBatch>;
  /** The statements that create the read model's tables, empty, in `schema`. */
  ddl(schema: string): string[];
  /** Its tables, in the order the writer locks them: the order a switch must lock them in. */
  readonly tables: readonly string[];
}

export const READ_MODEL = Symbol('status.read-model');
