import { DataSource, EntitySchema, MigrationInterface, QueryRunner } from 'typeorm';

type EntityTarget = (new (...args: never[]) => unknown) | EntitySchema;
type MigrationClass = new () => MigrationInterface;

export interface ServiceDataSourceOptions {
  /** `postgres://` URL of the database. */
  url: string;
  /** The Postgres schema the service owns; its tables and its migrations table live there. */
  schema: string;
  entities?: EntityTarget[];
  migrations?: MigrationClass[];
  /** Connections in the pool. */
  poolSize?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/**
 * A TypeORM data source bound to one service's schema, with its migrations run at start-up under
 * an advisory lock (several instances may start at once). Never `synchronize`.
 */
export async function openServiceDataSource(opts: ServiceDataSourceOptions): Promise<DataSource> {
  await ensureSchema(opts.url, opts.schema);
  const ds = new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: opts.entities ?? [],
    migrations: opts.migrations ?? [],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    // Off: TypeORM's console logger prints a failed query with its parameters (payloads, rows).
    // Errors reach the service's own log, whose serializer keeps the statement's first line only.
    logging: false,
    applicationName: opts.applicationName ?? `waybill-${opts.schema}`,
    // Unqualified names in the service's SQL and migrations mean its own schema.
    extra: { max: opts.poolSize ?? 10, connectionTimeoutMillis: 10_000, options: `-c search_path=${quoteIdent(opts.schema)}` },
  });
  await ds.initialize();
  try {
    await withAdvisoryLock(ds, `waybill.migrations.${opts.schema}`, () => ds.runMigrations({ transaction: 'each' }));
  } catch (err) {
    await ds.destroy();
    throw err;
  }
  return ds;
}

async function ensureSchema(url: string, schema: string): Promise<void> {
  // The migrations table lives in the schema, so the schema must exist before TypeORM looks for it.
  const ds = new DataSource({ type: 'postgres', url, extra: { max: 1, connectionTimeoutMillis: 10_000 } });
  await ds.initialize();
  try {
    await withAdvisoryLock(ds, `waybill.schema.${schema}`, (runner) =>
      runner.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`),
    );
  } finally {
    await ds.destroy();
  }
}

/**
 * Runs `fn` while holding a session-level advisory lock named `name` on one connection, which
 * `fn` may use (the lock holds one connection of the pool for its whole duration).
 */
export async function withAdvisoryLock<T>(ds: DataSource, name: string, fn: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [name]);
    try {
      return await fn(runner);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [name]);
    }
  } finally {
    await runner.release();
  }
}

/** Quotes a Postgres identifier that comes from configuration, never from a request. */
export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid identifier ${JSON.stringify(name)}`);
  return `"${name}"`;
}
