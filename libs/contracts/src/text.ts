import { z } from 'zod';

/**
 * What Waybill accepts as text in the ids, names and other identifiers of its API and events:
 * well-formed Unicode without control characters. PostgreSQL cannot store NUL in `text` nor an
 * unpaired surrogate in `jsonb`, and neither belongs in a name — so they are refused at the edge
 * with a 400 naming the field, never carried as far as a 500.
 *
 * A transaction's payload is not text of this kind: it is delivered exactly as sent.
 */

/** C0 controls, DEL and C1 controls (Unicode category Cc). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `s` is not acceptable text, in words a caller can act on; null when it is. */
export function textProblem(s: string): string | null {
  if (CONTROL.test(s)) return 'must not contain control characters (NUL, line breaks, tabs, …)';
  if (LONE_SURROGATE.test(s)) return 'must be well-formed Unicode (it holds an unpaired surrogate)';
  return null;
}

/** A string schema that refuses control characters and unpaired surrogates (see {@link textProblem}). */
export function safeText(): z.ZodString {
  return z.string().superRefine((s, ctx) => {
    const problem = textProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, continue: false });
  });
}

/** An id or identifier given by a caller (a channel id, a sender id, a business number): 1–`max` characters of text. */
export function identifier(max = 200): z.ZodString {
  return safeText().min(1).max(max);
}

/** A name given by a caller: trimmed, 1–`max` characters of text. */
export function displayName(max = 200): z.ZodString {
  return safeText().trim().min(1).max(max);
}

/** Largest offset from UTC a time may carry: the widest any time zone uses (minutes). */
const MAX_OFFSET_MINUTES = 14 * 60;
const OFFSET = /(?:Z|([+-])(\d{2}):(\d{2}))$/i;

/** Why `s`, already an RFC 3339 date-time, cannot be used as a time; null when it can. */
export function timestampProblem(s: string): string | null {
  if (!/^\d{4}-/.test(s)) return null; // not a date-time at all: the format check says so
  const year = Number(s.slice(0, 4));
  if (!(year >= 1 && year <= 9999)) return 'the year must be 0001–9999';
  const m = OFFSET.exec(s);
  if (m?.[1] && Number(m[2]) * 60 + Number(m[3]) > MAX_OFFSET_MINUTES) return 'the offset from UTC must be at most ±14:00';
  return null;
}

/** An RFC 3339 time with its offset (`2030-01-01T00:00:00Z`), years 0001–9999, offsets up to ±14:00. */
export function timestamp() {
  return z.iso.datetime({ offset: true }).superRefine((s, ctx) => {
    const problem = timestampProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, continue: false });
  });
}
