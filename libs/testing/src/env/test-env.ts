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

/** A new, empty database on the test PostgreSQL: every test file gets its own. */
export async function createTestDatabase(name = uniqueName('db')): Promise<string> {
  const adminUrl = required(ENV.databaseUrl);
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export function testKafkaBrokers(): string[] {
  return required(ENV.kafkaBrokers).split(',');
}

export function testWorkDir(): string {
  return required(ENV.workDir);
}
