/**
 * Integration tests with real PostgreSQL processes.
 *
 * Every server is owned by a separate Node process running
 * `__fixtures__/embedded-postgres-child.ts`: the SIGKILL case needs an owner
 * that can really be killed, and Node itself (not Jest's module system, which
 * cannot load the ESM-only `embedded-postgres` package) loads the launcher.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { CLUSTER_SUBDIR, POINTER_FILE, RELOCATION_ROOT, removeDataDir } from './cluster-location';
import { createLauncherLog } from './launcher-log';
import { findPostmasters, readProcess } from './proc';
import { shutdownPostmaster } from './recovery';

jest.setTimeout(120_000);

const REPO_ROOT = path.resolve(__dirname, '../../../..');
const FIXTURE = path.join(__dirname, '__fixtures__', 'embedded-postgres-child.ts');
const RUNNING_AS_ROOT = process.getuid?.() === 0;

interface Ready {
  url: string;
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
});
