import { createHmac } from 'node:crypto';
import type { ChannelState, DeliveryRequestedV1 } from '@waybill/contracts';

export const USER_AGENT = 'Waybill/0.1';

const CONTENT_TYPES = { JSON: 'application/json', XML: 'application/xml', X12: 'application/edi-x12' } as const;

/** What a partner's endpoint receives for one delivery attempt (see API.md). */
export interface PartnerRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface RequestSecrets {
  /** The channel's auth header value, already in clear (`Basic …`, `Bearer …`), or null. */
  authorization: string | null;
  /** Signing secrets in clear (`whsec_…`), newest first; empty when the channel does not sign. */
  signingSecrets: string[];
}

/** Builds the request of one attempt. Pure: the time and the clear secrets come in. */
export function buildPartnerRequest(
  channel: ChannelState,
  delivery: DeliveryRequestedV1,
  attempt: number,
  secrets: RequestSecrets,
  now: Date,
): PartnerRequest {
  const body = renderBody(delivery, attempt);
  const id = delivery.transactionId;
  const headers: Record<string, string> = {
    ...channel.headers,
    'content-type': CONTENT_TYPES[delivery.format],
    'user-agent': USER_AGENT,
    'idempotency-key': id,
    'webhook-id': id,
    'waybill-transaction-id': id,
    'waybill-delivery-id': delivery.deliveryId,
    'waybill-attempt': String(attempt),
  };
  if (secrets.authorization) headers.authorization = secrets.authorization;
  if (channel.signing.enabled && secrets.signingSecrets.length > 0) {
    const timestamp = Math.floor(now.getTime() / 1000).toString();
    headers['webhook-timestamp'] = timestamp;
    headers['webhook-signature'] = secrets.signingSecrets.map((s) => sign(s, id, timestamp, body)).join(' ');
  }
  return { url: channel.url ?? '', headers, body };
}

export function renderBody(delivery: DeliveryRequestedV1, attempt: number): string {
  if (delivery.format !== 'JSON') return String(delivery.payload);
  const t = delivery.transaction;
  return JSON.stringify({
    id: t.id,
    relationshipId: t.relationshipId,
    senderId: t.senderId,
    receiverId: t.receiverId,
    transactionType: t.transactionType,
    businessNumber: t.businessNumber,
    stream: t.stream,
    createdAt: t.createdAt,
    delivery: { id: delivery.deliveryId, attempt },
    payload: delivery.payload,
  });
}

/** Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the secret's bytes. */
export function sign(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
