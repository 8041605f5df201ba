import { z } from 'zod';

/**
 * A document's format: a channel's, and each transaction's (its channel's when it was received).
 * The one definition: routing's payload rules, the partner request and every schema that names a
 * format use this.
 */
export const Format = z.enum(['JSON', 'XML', 'X12']);
export type Format = z.infer<typeof Format>;

/** The `Content-Type` a partner receives a document of each format with (API.md, "What a partner's endpoint receives"). */
export const CONTENT_TYPES = { JSON: 'application/json', XML: 'application/xml', X12: 'application/edi-x12' } as const satisfies Record<Format, string>;
