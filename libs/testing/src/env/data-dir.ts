import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * A new directory below the system's temporary one (`prefix` and a random suffix) for data that an
 * embedded PostgreSQL keeps below it. mkdtemp makes it 0700; it is opened to 0755 so that
 * PostgreSQL's own user (when the tests run as root) can reach its data below it. It is the test's
 * own directory, so loosening it loosens nothing of the user's. The caller removes it.
 */
export async function newDataDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}
