import { createHash } from 'node:crypto';

export type Format = 'JSON' | 'XML' | 'X12';

export type PayloadCheck = { ok: true; text: string; bytes: number } | { ok: false; status: 400 | 413; message: string };

/**
 * A payload as routing stores it: JSON channels take any JSON value (kept as its JSON text); XML
 * and X12 channels take the document as a string.
 */
export function checkPayload(payload: unknown, format: Format, maxBytes: number): PayloadCheck {
  let text: string;
  if (format === 'JSON') {
    text = JSON.stringify(payload);
  } else {
    if (typeof payload !== 'string') return { ok: false, status: 400, message: `a ${format} channel takes the document as a string` };
    text = payload;
    if (format === 'X12' && !/^\s*ISA/.test(text)) return { ok: false, status: 400, message: 'an X12 document starts with an ISA segment' };
    if (format === 'XML' && !/^\s*</.test(text)) return { ok: false, status: 400, message: 'not an XML document' };
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) return { ok: false, status: 413, message: `the payload is ${bytes} bytes; the limit is ${maxBytes}` };
  return { ok: true, text, bytes };
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
