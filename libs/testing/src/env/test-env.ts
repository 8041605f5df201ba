import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ENV } from './servers';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this test through the int or e2e Jest project`);
  return v;
}

/** A short random name, safe in SQL identifiers and Kafka topic names. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/**
 * A new, empty database on the test PostgreSQL: every test file gets its own. It belongs to the
 * application role, which the returned URL logs in as — not a superuser, as in production.
 */
export async function createTestDatabase(name = uniqueName('db')): Promise<string> {
  const url = new URL(required(ENV.databaseUrl));
  const client = new Client({ connectionString: required(ENV.adminDatabaseUrl) });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)} OWNER ${client.escapeIdentifier(decodeURIComponent(url.username))}`);
  } finally {
    await client.end();
  }
  url.pathname = `/${name}`;
  return url.toString();
}

/** The test PostgreSQL's superuser URL on `database` (default: the harness's own). For tests of the cluster's access rules. */
export function testAdminDatabaseUrl(database?: string): string {
  const url = new URL(required(ENV.adminDatabaseUrl));
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

export function testKafkaBrokers(): string[] {
  return required(ENV.kafkaBrokers).split(',');
}
