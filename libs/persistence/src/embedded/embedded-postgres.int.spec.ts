/**
 * Integration tests with real PostgreSQL processes.
 *
 * Every server is owned by a separate Node process running
 * `__fixtures__/embedded-postgres-child.ts`: the SIGKILL case needs an owner
 * that can really be killed, and Node itself (not Jest's module system, which
 * cannot load the ESM-only `embedded-postgres` package) loads the launcher.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { CLUSTER_SUBDIR, POINTER_FILE, RELOCATION_ROOT, removeDataDir } from './cluster-location';
import { APP_ROLE, CREDENTIALS_FILE, LEGACY_LOGIN, type ClusterCredentials } from './credentials';
import { findFreePort } from './server';
import { HBA_CONF } from './initdb';
import { createLauncherLog } from './launcher-log';
import { findPostmasters, readProcess } from './proc';
import { shutdownPostmaster } from './recovery';

jest.setTimeout(120_000);

const REPO_ROOT = path.resolve(__dirname, '../../../..');
const FIXTURE = path.join(__dirname, '__fixtures__', 'embedded-postgres-child.ts');
const LEGACY_FIXTURE = path.join(__dirname, '__fixtures__', 'legacy-cluster-child.ts');
const RUNNING_AS_ROOT = process.getuid?.() === 0;

interface Ready {
  url: string;
  adminUrl: string;
  port: number;
  /** Cluster directory actually in use. */
  dataDir: string;
  ownerPid: number;
  /** Wall time of startEmbeddedPostgres() inside the owner, in milliseconds. */
  startMs: number;
}

/** A child Node process owning one embedded server. */
class Owner {
  readonly stderr: string[] = [];
  private readonly lines: AsyncIterator<string>;
  private readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    if (!child.stdout || !child.stderr) throw new Error('owner spawned without pipes');
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    createInterface({ input: child.stderr }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(options: { dataDir: string; quiet?: boolean }): Promise<{ owner: Owner; ready: Ready }> {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', FIXTURE, JSON.stringify(options)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const owner = new Owner(child);
    owners.add(owner);
    const ready = JSON.parse(await owner.expect('READY')) as Ready;
    startedClusters.add(ready.dataDir);
    return { owner, ready };
  }

  /** Asks the owner to stop its server (stop() is called three times there) and waits for it to exit. */
  async stop(): Promise<void> {
    this.child.stdin?.write('stop\n');
    await this.expect('STOPPED');
    await this.exited;
    owners.delete(this);
  }

  /** SIGKILL: no exit handlers, no chance to stop the server. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    owners.delete(this);
  }

  /** Payload of the next stdout line, which must start with `tag`. */
  private async expect(tag: string): Promise<string> {
    const next = await this.lines.next();
    const line = next.done === true ? '<owner exited>' : next.value;
    if (!line.startsWith(`${tag} `)) throw new Error(`expected ${tag}, got: ${line}\n${this.stderr.join('\n')}`);
    return line.slice(tag.length + 1);
  }
}

const owners = new Set<Owner>();
const startedClusters = new Set<string>();
const temporaryDirs: string[] = [];

/** A fresh 0700 directory from mkdtemp; `searchable` opens it (it is the test's own) to all users. */
async function temporaryParent(searchable: boolean): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'waybill-embedded-pg-'));
  temporaryDirs.push(dir);
  if (searchable) await chmod(dir, 0o755);
  return dir;
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a login or statement fails with, or 'ok'. */
async function outcome(url: string, sql = 'SELECT 1'): Promise<string> {
  try {
    await withClient(url, (client) => client.query(sql));
    return 'ok';
  } catch (error) {
    return String((error as { code?: string }).code ?? (error as Error).message);
  }
}

/** The same server and database, as another login. */
function asLogin(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function fileMode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

async function writeMarker(url: string, marker: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query('CREATE TABLE IF NOT EXISTS marker (value text NOT NULL)');
    await client.query('INSERT INTO marker (value) VALUES ($1)', [marker]);
  });
}

async function readMarkers(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const result = await client.query<{ value: string }>('SELECT value FROM marker ORDER BY value');
    return result.rows.map((row) => row.value);
  });
}

afterAll(async () => {
  // Whatever a failed test left running: owners first, then servers they orphaned.
  await Promise.all([...owners].map((owner) => owner.kill()));
  const quiet = createLauncherLog(undefined);
  for (const clusterDir of startedClusters) {
    for (const pid of await findPostmasters(clusterDir)) await shutdownPostmaster(pid, clusterDir, quiet);
  }
  for (const parent of temporaryDirs) {
    await removeDataDir(path.join(parent, 'data')); // relocated clusters live outside the parent
    await rm(parent, { recursive: true, force: true });
  }
});

describe('startEmbeddedPostgres', () => {
  it('keeps data across stop and restart, and is silent without a log sink', async () => {
    const dataDir = path.join(await temporaryParent(true), 'data');

    const first = await Owner.start({ dataDir, quiet: true });
    expect(first.ready.dataDir).toBe(path.join(await realpath(dataDir), CLUSTER_SUBDIR));
    expect(first.ready.url).toMatch(/^postgres:\/\/[^@]+@127\.0\.0\.1:\d+\/waybill$/);
    await expect(stat(path.join(first.ready.dataDir, 'PG_VERSION'))).resolves.toBeDefined();
    await writeMarker(first.ready.url, 'before-restart');
    await first.owner.stop();
    expect(first.owner.stderr).toEqual([]);
    expect(await findPostmasters(first.ready.dataDir)).toEqual([]);

    const second = await Owner.start({ dataDir, quiet: true });
    expect(second.ready.dataDir).toBe(first.ready.dataDir);
    expect(await readMarkers(second.ready.url)).toEqual(['before-restart']);
    await second.owner.stop();
    expect(await findPostmasters(second.ready.dataDir)).toEqual([]);
  });

  it('takes over after its owner was SIGKILLed, leaving exactly one postmaster', async () => {
    const dataDir = path.join(await temporaryParent(true), 'data');

    const doomed = await Owner.start({ dataDir });
    await writeMarker(doomed.ready.url, 'committed-before-kill');
    await doomed.owner.kill();
    // The premise: the server outlives its killed owner.
    const orphans = await findPostmasters(doomed.ready.dataDir);
    expect(orphans).toHaveLength(1);

    const heir = await Owner.start({ dataDir });
    const postmasters = await findPostmasters(heir.ready.dataDir);
    expect(postmasters).toHaveLength(1);
    expect(postmasters).not.toContain(orphans[0]);
    expect((await readProcess(postmasters[0] ?? -1))?.ppid).toBe(heir.owner.child.pid);
    expect(await readMarkers(heir.ready.url)).toEqual(['committed-before-kill']);
    expect(heir.owner.stderr.join('\n')).toContain('left running by a launcher that died');

    await heir.owner.stop();
    expect(await findPostmasters(heir.ready.dataDir)).toEqual([]);
  });

  it('works below a private (0700) mkdtemp parent without loosening it', async () => {
    const parent = await temporaryParent(false);
    const dataDir = path.join(parent, 'data');

    const first = await Owner.start({ dataDir });
    if (RUNNING_AS_ROOT) {
      // The postgres user cannot search the parent: the cluster lives outside, recorded in dataDir.
      expect(first.ready.dataDir.startsWith(`${RELOCATION_ROOT}/pg-`)).toBe(true);
      const pointer = JSON.parse(await readFile(path.join(dataDir, POINTER_FILE), 'utf8')) as { clusterDir: string };
      expect(pointer.clusterDir).toBe(first.ready.dataDir);
    } else {
      expect(first.ready.dataDir).toBe(path.join(await realpath(dataDir), CLUSTER_SUBDIR));
    }
    await writeMarker(first.ready.url, 'private-parent');
    await first.owner.stop();

    const second = await Owner.start({ dataDir });
    expect(second.ready.dataDir).toBe(first.ready.dataDir);
    expect(await readMarkers(second.ready.url)).toEqual(['private-parent']);
    await second.owner.stop();

    expect((await stat(parent)).mode & 0o777).toBe(0o700);
  });

  it('is reachable only with its own random logins; the application role is not a superuser', async () => {
    const dataDir = path.join(await temporaryParent(true), 'data');
    const { owner, ready } = await Owner.start({ dataDir });
    try {
      const credentialsFile = path.join(dataDir, CREDENTIALS_FILE);
      expect(await fileMode(credentialsFile)).toBe(0o600);
      const credentials = JSON.parse(await readFile(credentialsFile, 'utf8')) as ClusterCredentials;
      expect(credentials.migration).toBeUndefined();
      expect(new URL(ready.url).username).toBe(APP_ROLE);
      expect(decodeURIComponent(new URL(ready.url).password)).toBe(credentials.app.password);
      expect(credentials.app.password).not.toBe(credentials.superuser.password);

      // The old fixed login, as any local user could use it, is refused.
      expect(await outcome(asLogin(ready.url, LEGACY_LOGIN.user, LEGACY_LOGIN.password))).toBe('28P01');
      expect(await outcome(asLogin(ready.url, 'postgres', 'postgres'))).toBe('28P01');
      expect(await outcome(asLogin(ready.url, APP_ROLE, 'waybill'))).toBe('28P01');

      // The application role: no superuser, no programs, no server files, no roles or databases.
      expect(await outcome(ready.url, `COPY (SELECT 1) TO PROGRAM 'id'`)).toBe('42501');
      expect(await outcome(ready.url, `SELECT pg_read_file('postgresql.conf')`)).toBe('42501');
      expect(await outcome(ready.url, 'CREATE ROLE intruder')).toBe('42501');
      expect(await outcome(ready.url, 'CREATE DATABASE elsewhere')).toBe('42501');
      await withClient(ready.url, async (client) => {
        const role = await client.query<{ rolsuper: boolean; owner: string }>(
          `SELECT r.rolsuper, pg_get_userbyid(d.datdba) AS owner FROM pg_roles r, pg_database d
            WHERE r.rolname = current_user AND d.datname = current_database()`,
        );
        expect(role.rows[0]).toEqual({ rolsuper: false, owner: APP_ROLE });
        // What the services need, as the owner of their database: schemas, LISTEN/NOTIFY, advisory locks.
        await client.query('CREATE SCHEMA IF NOT EXISTS service_a');
        await client.query('CREATE TABLE service_a.t (id bigserial PRIMARY KEY, v jsonb)');
        await client.query(`INSERT INTO service_a.t (v) VALUES ('{"a":1}')`);
        await client.query('LISTEN waybill_test');
        await client.query(`SELECT pg_notify('waybill_test', 'x'), pg_advisory_lock(hashtext('a')), pg_advisory_unlock(hashtext('a'))`);
        await client.query('SELECT pg_snapshot_xmin(pg_current_snapshot()), pg_current_xact_id()');
      });
      expect(await outcome(ready.adminUrl, `SELECT 1 WHERE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`)).toBe('ok');

      expect(await readFile(path.join(ready.dataDir, 'pg_hba.conf'), 'utf8')).toBe(HBA_CONF);
      expect(await fileMode(path.join(ready.dataDir, 'pg_hba.conf'))).toBe(0o600);
    } finally {
      await owner.stop();
    }
  });

  it('migrates a cluster of the old fixed superuser login: new logins, its objects owned by the application role', async () => {
    const dataDir = path.join(await temporaryParent(true), 'data');
    await mkdir(dataDir);
    const made = spawnSync(
      process.execPath,
      ['-r', '@swc-node/register', LEGACY_FIXTURE, JSON.stringify({ clusterDir: path.join(dataDir, CLUSTER_SUBDIR), port: await findFreePort() })],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 100_000 },
    );
    expect(made.stdout.trim()).toBe('DONE');
    startedClusters.add(path.join(await realpath(dataDir), CLUSTER_SUBDIR));

    const first = await Owner.start({ dataDir });
    try {
      expect(first.owner.stderr.join('\n')).toContain('old fixed superuser login');
      expect(await outcome(asLogin(first.ready.url, LEGACY_LOGIN.user, LEGACY_LOGIN.password))).toBe('28P01');
      expect(await fileMode(path.join(dataDir, CREDENTIALS_FILE))).toBe(0o600);
      const credentials = JSON.parse(await readFile(path.join(dataDir, CREDENTIALS_FILE), 'utf8')) as ClusterCredentials;
      expect(credentials.migration).toBeUndefined();
      expect(credentials.superuser.user).toBe(LEGACY_LOGIN.user);

      await withClient(first.ready.url, async (client) => {
        const owners = await client.query<{ kind: string; name: string; owner: string }>(
          `SELECT 'schema' AS kind, nspname AS name, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'routing'
           UNION ALL SELECT 'relation', relname, pg_get_userbyid(relowner) FROM pg_class
             WHERE relnamespace = 'routing'::regnamespace AND relkind IN ('r', 'S', 'v')
           UNION ALL SELECT 'function', proname, pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'routing'::regnamespace
           UNION ALL SELECT 'type', typname, pg_get_userbyid(typowner) FROM pg_type WHERE typnamespace = 'routing'::regnamespace AND typtype = 'e'
           UNION ALL SELECT 'database', datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()
           ORDER BY 1, 2`,
        );
        expect(owners.rows.map((r) => `${r.kind} ${r.name}`)).toEqual([
          'database waybill',
          'function notify_marker',
          'relation counted',
          'relation counted_id_seq',
          'relation free_standing',
          'relation marker',
          'relation marker_id_seq',
          'relation marker_values',
          'schema routing',
          'type kind',
        ]);
        expect(new Set(owners.rows.map((r) => r.owner))).toEqual(new Set([APP_ROLE]));
        // The old data, and the application role writing it with its sequences, trigger and types.
        await client.query(`INSERT INTO routing.marker (value, kind) VALUES ('after-migration', 'b')`);
        await client.query('INSERT INTO routing.counted (n) VALUES (1)');
        await client.query(`SELECT nextval('routing.free_standing')`);
        const values = await client.query<{ value: string }>('SELECT value FROM routing.marker_values ORDER BY value');
        expect(values.rows.map((r) => r.value)).toEqual(['after-migration', 'made-by-the-old-launcher']);
        expect(await outcome(first.ready.url, `COPY (SELECT 1) TO PROGRAM 'id'`)).toBe('42501');
      });
    } finally {
      await first.owner.stop();
    }

    // The next start uses the recorded logins and changes nothing.
    const second = await Owner.start({ dataDir });
    try {
      expect(second.owner.stderr.join('\n')).not.toContain('old fixed superuser login');
      expect(await outcome(second.ready.url, 'SELECT count(*) FROM routing.marker')).toBe('ok');
      expect(await outcome(asLogin(second.ready.url, LEGACY_LOGIN.user, LEGACY_LOGIN.password))).toBe('28P01');
    } finally {
      await second.owner.stop();
    }
  });

  it('refuses a credentials file that others can read', async () => {
    const dataDir = path.join(await temporaryParent(true), 'data');
    const first = await Owner.start({ dataDir, quiet: true });
    await first.owner.stop();
    await chmod(path.join(dataDir, CREDENTIALS_FILE), 0o644);
    await expect(Owner.start({ dataDir, quiet: true })).rejects.toThrow(/readable by others/);
  });
});
