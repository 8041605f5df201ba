import { z } from 'zod';
import { v7 as uuidv7 } from 'uuid';
import { textProblem } from '@waybill/contracts';
import { Problems } from './problem';

/** `?limit=` (1–100, default 50) and an opaque `?cursor=`. */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional(),
});

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** A keyset position (a sort value and the id that breaks ties), opaque to callers. */
export interface Keyset {
  at: string;
  id: string;
}

export function encodeCursor(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.at, k.id])).toString('base64url');
}

/** A cursor's time as `encodeCursor` writes it: `Date#toISOString` of a year 0001–9999. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The longest id a cursor may hold (ids are at most 200 characters wherever they are given). */
const CURSOR_ID_MAX = 200;

/**
 * Reads a cursor back, or refuses it with a 400 naming `query.cursor`. Cursors are not signed: a
 * cursor is only a position in the caller's own data (every list is filtered by the caller's
 * organisation), so a forged one can do nothing a real one cannot. What it must never do is carry
 * a value the database refuses (a NUL, an unpaired surrogate, a year beyond 9999): every field is
 * checked to be exactly what `encodeCursor` writes.
 */
export function decodeCursor(cursor: string | undefined): Keyset | null {
  if (!cursor) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      const [at, id] = value;
      const time = new Date(at);
      const timeOk = CURSOR_TIME.test(at) && !at.startsWith('0000') && !Number.isNaN(time.getTime()) && time.toISOString() === at;
      const idOk = id.length > 0 && id.length <= CURSOR_ID_MAX && textProblem(id) === null;
      if (timeOk && idOk) return { at, id };
    }
  } catch {
    // falls through to the 400
  }
  throw Problems.invalid([{ path: 'query.cursor', message: 'not a cursor this API gave' }]);
}

/** Builds a page from `limit + 1` rows fetched in keyset order. */
export function toPage<R, T>(rows: R[], limit: number, keyOf: (r: R) => Keyset, view: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return { data: page.map(view), nextCursor: more ? encodeCursor(keyOf(page[page.length - 1])) : null };
}

/** A new opaque id: a prefix that says what it names, and a UUIDv7 (time-ordered). */
export function newId(prefix: string): string {
  return `${prefix}_${uuidv7().replace(/-/g, '')}`;
}
