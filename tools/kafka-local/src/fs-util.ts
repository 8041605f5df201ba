import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';

/**
 * Writes via a sibling temp file and rename, so a concurrent reader sees
 * either the old or the new content, never a half-written file.
 */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Reads a UTF-8 file, or returns undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Current size of a file in bytes; 0 when it does not exist. */
export async function fileSizeBytes(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Java stack frames after the first few say little and would push the error line out of a short tail. */
const STACK_FRAMES_KEPT = 3;

function withShortStackTraces(lines: string[]): string[] {
  let frames = 0;
  return lines.filter((line) => {
    const isFrame = /^\s+at |^\s+\.\.\. \d+ more/.test(line);
    frames = isFrame ? frames + 1 : 0;
    return frames <= STACK_FRAMES_KEPT;
  });
}

/**
 * Last `lineCount` lines written to a log file since it was `fromBytes` long,
 * with stack traces shortened; empty string when there are none. Reads from
 * the start when the file shrank (rotated) in between.
 */
export async function tailFileSince(path: string, fromBytes: number, lineCount: number): Promise<string> {
  const size = await fileSizeBytes(path);
  const start = fromBytes <= size ? fromBytes : 0;
  if (size === start) return '';
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').trimEnd().split('\n');
    return withShortStackTraces(lines).slice(-lineCount).join('\n');
  } finally {
    await handle.close();
  }
}

// Duck-typed rather than `instanceof Error`: under Jest, errors thrown by Node's
// own modules come from another realm and fail instanceof checks.
export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return typeof error === 'object' && error !== null && 'code' in error;
}

export function errorMessage(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  return String(error);
}

/** Resolves after `delayMs`; used only between polls of a condition. */
export function delay(delayMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, delayMs));
}
