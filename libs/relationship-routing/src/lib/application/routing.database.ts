/**
 * Routing's own PostgreSQL schema — relationships, transactions with their payloads, Idempotency-Keys,
 * channel guards, the outbox — and the DI token of its data source (`serviceDatabase` in the module
 * opens it and runs the migrations at start).
 */
export const ROUTING_SCHEMA = 'routing';
export const ROUTING_DB = Symbol('routing.db');
