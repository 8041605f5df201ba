/** The routing service's PostgreSQL schema (its tables, its outbox). */
export const SCHEMA = 'routing';
