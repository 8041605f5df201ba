import { createHash } from 'node:crypto';
import { XMLValidator } from 'fast-xml-parser';
import type { Format } from '@waybill/contracts';
import { canonicalJsonText } from './json-text';

export type PayloadCheck = { ok: true; text: string; bytes: number } | { ok: false; status: 400 | 413; message: string };

/**
 * A payload as routing stores it: JSON channels take any JSON value, kept as the text it was sent
 * as (`sentText`: delivered exactly so); XML and X12 channels take the document as a string
 * (leading white space dropped: nothing may come before an XML declaration or an ISA segment).
 * Cheap checks only; {@link checkDocument} parses.
 */
export function checkPayload(payload: unknown, format: Format, maxBytes: number, sentText?: string): PayloadCheck {
  let text: string;
  if (format === 'JSON') {
    text = sentText ?? JSON.stringify(payload);
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
  // A document type may declare entities that expand beyond any size limit in a partner's parser
  // (and is ill-formed inside a batch's list envelope): refused, whatever it declares.
  if (hasDoctype(text)) return 'a document with a DOCTYPE is refused: send the document without its document type declaration';
  const result = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (result === true) return null;
  const { msg, line, col } = result.err;
  return `not well-formed XML: ${msg} (line ${line}${col ? `, column ${col}` : ''})`;
}

/**
 * A fingerprint of a request body as a JSON value — key order and spacing do not matter, values
 * do, exactly (`…123` and `…124` differ): of the text as sent, without the top-level members
 * `omitKeys` (a batch item's own `idempotencyKey`).
 */
export function requestFingerprint(sentText: string, omitKeys: readonly string[] = []): string {
  return createHash('sha256').update(canonicalJsonText(sentText, omitKeys)).digest('hex');
}

/** What may stand before an XML document's root element, but a document type: a byte order mark, white space, the declaration, comments, processing instructions. */
const PROLOG_PART = /^(?:\uFEFF|\s+|<\?[\s\S]*?\?>|<!--[\s\S]*?-->)/;

/** Whether an XML document declares a document type (in its prolog, the only place one may stand). */
export function hasDoctype(doc: string): boolean {
  let at = 0;
  for (;;) {
    const m = PROLOG_PART.exec(doc.slice(at, at + 64 * 1024));
    if (!m || m[0].length === 0) return /^<!DOCTYPE/i.test(doc.slice(at, at + 9));
    at += m[0].length;
  }
}
