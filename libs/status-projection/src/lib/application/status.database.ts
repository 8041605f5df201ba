/**
 * The status service's own PostgreSQL schema — the live read model and the operational tables
 * (alerts, sweeps, the relationships replica, the outbox) — and the DI token of its data source
 * (`serviceDatabase` in the module opens it and runs the migrations at start).
 */
export const STATUS_SCHEMA = 'status';
export const STATUS_DB = Symbol('status.db');
