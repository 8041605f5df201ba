export { StatusProjectionModule } from './lib/status-projection.module';
export { ProjectionRebuild } from './lib/application/rebuild/projection-rebuild.service';
export type { RebuildState, RebuildPhase } from './lib/application/rebuild/projection-rebuild.service';
// For tools that measure the read model (tools/projection).
export { STATUS_SCHEMA } from './lib/application/status.database';
export { STATUS_MIGRATIONS } from './lib/adapters/db/status.migrations';
export { applyTransactionEvents } from './lib/adapters/db/read-model.writer';
export { listQuery, sweepSnapshotQuery } from './lib/application/queries/transactions.sql';
export type { TransactionFilter } from './lib/application/queries/transactions.sql';
