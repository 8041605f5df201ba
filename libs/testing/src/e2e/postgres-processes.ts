import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';

/** One live `postgres` process (postmaster or backend), as Linux `/proc` shows it. */
export interface PostgresProcess {
  pid: number;
  ppid: number;
  /** Clock ticks after boot at which it started: with the pid, names the process (pids get reused). */
  startTime: string;
  argv: string[];
  cwd: string | null;
  /** True for the postmaster: the one that keeps `-D <cluster>` on its command line. */
  postmaster: boolean;
}

/**
 * Every live `postgres` process that belongs to a data directory: its command line references
 * `dir` (the postmaster's `-D`) or it works inside `dir` (backends chdir into their cluster).
 * Read from `/proc` (Linux only; elsewhere this answers `[]`). Zombies are left out.
 */
export async function postgresProcessesOf(dir: string): Promise<PostgresProcess[]> {
  if (process.platform !== 'linux') return [];
  const root = await realpath(dir).catch(() => path.resolve(dir));
  const inside = (p: string): boolean => p === root || p.startsWith(`${root}/`);
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const found = await Promise.all(
    pids.map(async (pid): Promise<PostgresProcess | undefined> => {
      try {
        const [stat, cmdline] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/cmdline`, 'utf8')]);
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const state = fields[0];
        if (state === 'Z' || state === 'X') return undefined;
        const argv = cmdline.split('\0').filter(Boolean);
        if (comm !== 'postgres' && path.basename(argv[0] ?? '') !== 'postgres' && !(argv[0] ?? '').startsWith('postgres:')) return undefined;
        const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
        const referencesDir = argv.some((a) => a.includes(root));
        if (!referencesDir && !(cwd !== null && inside(cwd))) return undefined;
        return {
          pid,
          ppid: Number(fields[1]),
          startTime: fields[19] ?? '',
          argv,
          cwd,
          postmaster: path.basename(argv[0] ?? '') === 'postgres' && argv.some((a, i) => (a === '-D' && inside(path.resolve(argv[i + 1] ?? ''))) || (a.startsWith('-D') && inside(path.resolve(a.slice(2))))),
        };
      } catch {
        return undefined; // gone meanwhile, or a kernel thread
      }
    }),
  );
  return found.filter((p): p is PostgresProcess => p !== undefined);
}

/** True while the process that `p` names (same pid, same start time) still runs. */
export async function isStillRunning(p: Pick<PostgresProcess, 'pid' | 'startTime'>): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${p.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[0] !== 'X' && fields[19] === p.startTime;
  } catch {
    return false;
  }
}

/**
 * Test clean-up: SIGKILLs the `postgres` processes of `dir` that a test's app left behind (a
 * failed test may leave a postmaster orphaned by a SIGKILL), by pid, and waits until they are gone.
 */
export async function killPostgresProcessesOf(dir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await postgresProcessesOf(dir);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`postgres processes ${left.map((p) => p.pid).join(', ')} of ${dir} survived SIGKILL`);
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
