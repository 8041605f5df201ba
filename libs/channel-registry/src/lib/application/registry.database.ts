/**
 * The registry's own PostgreSQL schema — organisations, API keys, channels, settings, its replica
 * of which relationships use which channel, the outbox — and the DI token of its data source
 * (`serviceDatabase` in the module opens it and runs the migrations at start).
 */
export const REGISTRY_SCHEMA = 'registry';
export const REGISTRY_DB = Symbol('registry.db');
