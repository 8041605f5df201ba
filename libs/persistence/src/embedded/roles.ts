/**
 * Who may do what in an embedded cluster, set by the launcher as the superuser
 * on every start (idempotent, a few statements):
 * - the application role logs in with its password, and is not a superuser: it
 *   cannot create roles or databases, read files or run programs
 *   (`COPY … TO PROGRAM`); it owns its database (so it may create its schemas,
 *   LISTEN/NOTIFY and take advisory locks there) and nothing else;
 * - the superuser's password is the random one of the credentials file.
 * A cluster of the old fixed login is migrated here too (see `credentials.ts`).
 */
import { Client } from 'pg';
import { LEGACY_LOGIN, writeCredentials, type ClusterCredentials, type Login } from './credentials';
import type { LauncherLog } from './launcher-log';

const CONNECT_TIMEOUT_MS = 10_000;
const INVALID_PASSWORD = '28P01';
const DUPLICATE_DATABASE = '42P04';
const DUPLICATE_ROLE = '42710';

/** Where the server listens. */
export interface Endpoint {
  host: string;
  port: number;
}

/** Opens a session as `login` on `database`. */
export async function connect(endpoint: Endpoint, login: Login, database: string): Promise<Client> {
  const client = new Client({
    host: endpoint.host,
    port: endpoint.port,
    user: login.user,
    password: login.password,
    database,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  client.on('error', noop); // a server shutting down mid-query surfaces through the query instead
  await client.connect();
  return client;
}

/**
 * A superuser session on `postgres`. While a migration is pending, the old fixed login may still
 * be the one in force (the launcher was killed before it changed the password): it is tried then,
 * and only then, and the recorded password set at once.
 */
export async function superuserSession(endpoint: Endpoint, credentials: ClusterCredentials, legacy: Login): Promise<Client> {
  try {
    return await connect(endpoint, credentials.superuser, 'postgres');
  } catch (error) {
    if (credentials.migration !== 'pending' || sqlState(error) !== INVALID_PASSWORD) throw error;
  }
  const client = await connect(endpoint, { user: credentials.superuser.user, password: legacy.password }, 'postgres');
  await setPassword(client, credentials.superuser);
  return client;
}

/** Creates or repairs the application role: login, password, and no privilege beyond its own objects. */
export async function ensureAppRole(superuser: Client, app: Login): Promise<void> {
  const role = superuser.escapeIdentifier(app.user);
  try {
    await superuser.query(`CREATE ROLE ${role} LOGIN`);
  } catch (error) {
    if (sqlState(error) !== DUPLICATE_ROLE) throw error;
  }
  await superuser.query(`ALTER ROLE ${role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
  await setPassword(superuser, app);
}

/** Creates `database` owned by the application role when missing; tolerates a concurrent creator. */
export async function ensureDatabase(superuser: Client, database: string, owner: string): Promise<void> {
  const found = await superuser.query<{ owner: string }>(
    'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
    [database],
  );
  const db = superuser.escapeIdentifier(database);
  if (found.rowCount === 0) {
    try {
      await superuser.query(`CREATE DATABASE ${db} OWNER ${superuser.escapeIdentifier(owner)}`);
      return;
    } catch (error) {
      if (sqlState(error) !== DUPLICATE_DATABASE) throw error;
    }
  }
  if (found.rows[0]?.owner !== owner) await superuser.query(`ALTER DATABASE ${db} OWNER TO ${superuser.escapeIdentifier(owner)}`);
}

/**
 * Moves a cluster of the old fixed login to the application role: every user database, and in
 * each the schemas, tables, sequences, views, functions and types the old superuser owns. (The
 * old superuser is the cluster's bootstrap role: it cannot lose its superuser attribute, nor be
 * `REASSIGN OWNED`; it keeps its role, with the new random password.)
 */
export async function migrateOwnership(endpoint: Endpoint, superuser: Client, credentials: ClusterCredentials): Promise<string[]> {
  const { rows } = await superuser.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres' ORDER BY datname`,
  );
  for (const { datname } of rows) {
    await ensureDatabase(superuser, datname, credentials.app.user);
    const session = await connect(endpoint, credentials.superuser, datname);
    try {
      await session.query(transferObjects(session.escapeLiteral(credentials.app.user)));
    } finally {
      await session.end();
    }
  }
  return rows.map((r) => r.datname);
}

/** One DO block: what the current (super)user owns outside the system schemas goes to `app`. */
function transferObjects(appLiteral: string): string {
  const userSchemas = `NOT LIKE 'pg\\_%' AND %s <> 'information_schema'`;
  const outside = (column: string) => `${column} ${userSchemas.replace('%s', column)}`;
  return `DO $migrate$
DECLARE
  me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
  app text := ${appLiteral};
  r record;
BEGIN
  FOR r IN SELECT nspname FROM pg_namespace WHERE nspowner = me AND ${outside('nspname')} LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, app);
  END LOOP;
  -- Tables take their indexes and owned (serial, identity) sequences with them.
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relowner = me AND ${outside('n.nspname')} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND NOT (c.relkind = 'S' AND EXISTS (
                SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.name, app);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proowner = me AND ${outside('n.nspname')}
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.name, app);
  END LOOP;
  -- Enums, domains, ranges and free-standing composite types; a table's row type goes with it.
  FOR r IN SELECT t.oid::regtype AS name, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typowner = me AND ${outside('n.nspname')} AND t.typtype IN ('e', 'd', 'r', 'c')
              AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name, app);
  END LOOP;
END
$migrate$`;
}

/**
 * `ALTER ROLE … PASSWORD` takes no bind parameters; the passwords are base64url (see
 * `newPassword`), quoted all the same. The server hashes them (SCRAM) before storing.
 */
async function setPassword(superuser: Client, login: Login): Promise<void> {
  await superuser.query(
    `ALTER ROLE ${superuser.escapeIdentifier(login.user)} WITH PASSWORD ${superuser.escapeLiteral(login.password)}`,
  );
}

export function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function noop(): void {
  /* intentionally empty */
}

/** The application role, an old cluster's migration, and the database (see `roles.ts`). */
export async function prepareRoles(
  endpoint: { host: string; port: number },
  dataDir: string,
  credentials: ClusterCredentials,
  database: string,
  log: LauncherLog,
): Promise<void> {
  const superuser = await superuserSession(endpoint, credentials, LEGACY_LOGIN);
  try {
    await ensureAppRole(superuser, credentials.app);
    if (credentials.migration === 'pending') {
      const databases = await migrateOwnership(endpoint, superuser, credentials);
      await writeCredentials(dataDir, { superuser: credentials.superuser, app: credentials.app });
      log.info('migrated the cluster to random logins; its databases now belong to the application role', {
        databases,
        appRole: credentials.app.user,
      });
    }
    await ensureDatabase(superuser, database, credentials.app.user);
  } finally {
    await superuser.end();
  }
}
