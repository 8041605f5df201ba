import { ChannelState, CONTENT_TYPES, envelopeHead, Format, TransactionHeader } from '@waybill/contracts';

/** What stands in a header's value that is a secret (a credential, a signature). */
export const REDACTED = '[redacted]';

/** Static header names that look like they carry a secret: their values are never shown. */
const SECRET_HEADER = /auth|key|token|secret|password|passwd|cookie|signature|session|credential/i;

export interface SentRequestInput {
  header: TransactionHeader;
  format: Format;
  /** The payload as stored: the JSON text exactly as received, or the XML or X12 document. */
  payload: string;
  /** The channel the transaction goes to, as it is now; undefined when it no longer exists. */
  channel: ChannelState | undefined;
  /** One attempt's delivery id and number, to show that attempt's request; else left out. */
  attempt?: { deliveryId: string; attempt: number };
}

export interface HeaderView {
  name: string;
  value: string;
  /** The value is a secret and is not shown. */
  redacted: boolean;
}

export interface SentRequestView {
  transactionId: string;
  format: Format;
  contentType: string;
  payload: string;
  /** A push channel's request; null for a PULL channel (the partner fetches the body) or a deleted one. */
  request: { method: 'POST'; url: string; headers: HeaderView[]; body: string } | null;
}

/**
 * The payload and the request a partner receives for a transaction, with every secret left out:
 * the authorization value, the signature, and static headers whose names look secret. The request
 * is rendered with the channel as it is now (a change to a channel applies to every later
 * attempt), as the dispatcher renders it (API.md, "What a partner's endpoint receives"). Pure.
 */
export function sentRequest(input: SentRequestInput): SentRequestView {
  const { header, format, payload, channel, attempt } = input;
  const base = { transactionId: header.id, format, contentType: CONTENT_TYPES[format], payload };
  if (!channel || channel.type !== 'HTTP' || !channel.url) return { ...base, request: null };
  const id = header.id;
  const headers: HeaderView[] = Object.entries(channel.headers).map(([name, value]) =>
    SECRET_HEADER.test(name) ? { name, value: REDACTED, redacted: true } : { name, value, redacted: false },
  );
  const shown = (name: string, value: string) => headers.push({ name, value, redacted: false });
  shown('content-type', CONTENT_TYPES[format]);
  shown('idempotency-key', id);
  shown('webhook-id', id);
  shown('waybill-transaction-id', id);
  if (attempt) {
    shown('waybill-delivery-id', attempt.deliveryId);
    shown('waybill-attempt', String(attempt.attempt));
  }
  const scheme = { NONE: null, BASIC: 'Basic', BEARER: 'Bearer', OAUTH2_CLIENT_CREDENTIALS: 'Bearer' }[channel.auth.type];
  if (scheme) headers.push({ name: 'authorization', value: `${scheme} ${REDACTED}`, redacted: true });
  if (channel.signing.enabled) {
    headers.push({ name: 'webhook-timestamp', value: '(the time of the attempt, in seconds)', redacted: false });
    headers.push({ name: 'webhook-signature', value: REDACTED, redacted: true });
  }
  return { ...base, request: { method: 'POST', url: channel.url, headers, body: bodyOf(header, format, payload, attempt) } };
}

function bodyOf(t: TransactionHeader, format: Format, payload: string, attempt: SentRequestInput['attempt']): string {
  if (format !== 'JSON') return payload;
  // The envelope around the payload's own text, so that the payload shows exactly as it was sent.
  const envelope = JSON.stringify({ ...envelopeHead(t, attempt ? { id: attempt.deliveryId, attempt: attempt.attempt } : null), payload: 0 });
  return `${envelope.slice(0, -'0}'.length)}${payload}}`;
}
