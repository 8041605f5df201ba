export const REGISTRY_DB = Symbol('registry.db');
