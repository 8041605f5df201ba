import { z } from 'zod';
import { v7 as uuidv7 } from 'uuid';
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

export function decodeCursor(cursor: string | undefined): Keyset | null {
  if (!cursor) return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    // Exactly what encodeCursor writes: two strings, the first an ISO time in its canonical form.
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      const [at, id] = value;
      const time = new Date(at);
      if (!Number.isNaN(time.getTime()) && time.toISOString() === at) return { at, id };
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
