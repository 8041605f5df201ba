import { createHash } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';

export type Format = 'JSON' | 'XML' | 'X12';

export type PayloadCheck = { ok: true; text: string; bytes: number } | { ok: false; status: 400 | 413; message: string };

/**
 * A payload as routing stores it: JSON channels take any JSON value (kept as its JSON text); XML
 * and X12 channels take the document as a string (leading white space dropped: nothing may come
 * before an XML declaration or an ISA segment). Cheap checks only; {@link checkDocument} parses.
 */
export function checkPayload(payload: unknown, format: Format, maxBytes: number): PayloadCheck {
  let text: string;
  if (format === 'JSON') {
    text = JSON.stringify(payload);
  } else {
    if (typeof payload !== 'string') return { ok: false, status: 400, message: `a ${format} channel takes the document as a string` };
    text = payload.trimStart();
    if (format === 'X12' && !text.startsWith('ISA')) return { ok: false, status: 400, message: 'an X12 document starts with an ISA segment' };
    if (format === 'XML' && !text.startsWith('<')) return { ok: false, status: 400, message: 'not an XML document' };
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) return { ok: false, status: 413, message: `the payload is ${bytes} bytes; the limit is ${maxBytes}` };
  return { ok: true, text, bytes };
}

/**
 * The document's own rules, once it is within the size limit: an XML document must be well-formed
 * (what a partner's parser will need). Returns why it is refused, or null.
 */
export function checkDocument(text: string, format: Format): string | null {
  if (format !== 'XML') return null;
  const result = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (result === true) return null;
  const { msg, line, col } = result.err;
  return `not well-formed XML: ${msg} (line ${line}${col ? `, column ${col}` : ''})`;
}

/** A fingerprint of a request body as a JSON value: key order does not matter, values do. */
export function requestFingerprint(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
