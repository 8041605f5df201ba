import { createHmac } from 'node:crypto';
import { ChannelState, CONTENT_TYPES, DeliveryRequest, envelopeHead, payloadTextOf } from '@waybill/contracts';

type Format = DeliveryRequest['format'];

export const USER_AGENT = 'Waybill/0.1';

/** The body's content type, by format. */

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
  /** The channel's secret headers, their values in clear; sent like its static headers. */
  secretHeaders?: Record<string, string>;
}

/** Builds the request of one attempt. Pure: the time and the clear secrets come in. */
export function buildPartnerRequest(
  channel: ChannelState,
  delivery: DeliveryRequest,
  attempt: number,
  secrets: RequestSecrets,
  now: Date,
): PartnerRequest {
  const body = renderBody(delivery, attempt);
  const id = delivery.transactionId;
  return finish(channel, CONTENT_TYPES[delivery.format], id, body, secrets, now, {
    'waybill-transaction-id': id,
    'waybill-delivery-id': delivery.deliveryId,
    'waybill-attempt': String(attempt),
  });
}

/**
 * Builds the request of one attempt of a batch: the list envelope of its items, the batch id as
 * `Idempotency-Key`, `webhook-id` and `Waybill-Batch-Id` (the items' delivery ids are in the body).
 * All items have one format (batches are formed by format).
 */
export function buildBatchRequest(
  channel: ChannelState,
  batchId: string,
  deliveries: readonly DeliveryRequest[],
  attempt: number,
  secrets: RequestSecrets,
  now: Date,
): PartnerRequest {
  const format = deliveries[0].format;
  return finish(channel, CONTENT_TYPES[format], batchId, renderBatchBody(format, batchId, deliveries, attempt), secrets, now, {
    'waybill-batch-id': batchId,
    'waybill-attempt': String(attempt),
  });
}

/**
 * The list envelope of API.md: JSON `{ batchId, count, items }` of the single bodies; XML the
 * documents, each without its prolog (XML declaration, comments, processing instructions, a
 * document type) — which may only stand at the start of a document —, inside
 * `<TransactionList count="n">`; X12 the interchanges one after another.
 */
export function renderBatchBody(format: Format, batchId: string, deliveries: readonly DeliveryRequest[], attempt: number): string {
  switch (format) {
    case 'JSON':
      return `{"batchId":${JSON.stringify(batchId)},"count":${deliveries.length},"items":[${deliveries.map((d) => renderBody(d, attempt)).join(',')}]}`;
    case 'XML':
      return `<TransactionList count="${deliveries.length}">${deliveries.map((d) => withoutProlog(payloadTextOf(d))).join('')}</TransactionList>`;
    case 'X12':
      return deliveries.map((d) => payloadTextOf(d)).join('');
    default:
      return assertNever(format);
  }
}

/** An alert (`waybill.alerts` event) as the organisation's alert channel receives it: the event itself, as JSON. */
export function buildAlertRequest(channel: ChannelState, alert: { eventId: string; type: string }, secrets: RequestSecrets, now: Date): PartnerRequest {
  return finish(channel, CONTENT_TYPES.JSON, alert.eventId, JSON.stringify(alert), secrets, now, { 'waybill-event-type': alert.type });
}

/** A test delivery (`POST /v1/channels/{id}/test`): a made-up transaction of the TEST stream, in the channel's format. */
export function testDelivery(channel: ChannelState, id: string, now: Date): DeliveryRequest {
  const stamp = now.toISOString();
  const payloadText =
    channel.format === 'JSON'
      ? JSON.stringify({ test: true, message: 'Waybill test delivery' })
      : channel.format === 'XML'
        ? '<WaybillTest><Message>Waybill test delivery</Message></WaybillTest>'
        : testInterchange(now);
  return {
    deliveryId: `dl_${id}`,
    transactionId: `test_${id}`,
    channelId: channel.id,
    generation: 1,
    format: channel.format,
    transaction: {
      id: `test_${id}`,
      relationshipId: 'test',
      senderId: 'waybill',
      receiverId: channel.orgId,
      transactionType: 'test',
      businessNumber: null,
      stream: 'TEST',
      createdAt: stamp,
    },
    payloadText,
  };
}

/** An interchange with no functional group, marked as test data (ISA15 = T). */
function testInterchange(now: Date): string {
  const iso = now.toISOString();
  const date = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10);
  const time = iso.slice(11, 13) + iso.slice(14, 16);
  const pad = (s: string) => s.padEnd(15, ' ');
  return `ISA*00*          *00*          *ZZ*${pad('WAYBILL')}*ZZ*${pad('PARTNER')}*${date}*${time}*U*00401*000000001*0*T*>~IEA*0*000000001~`;
}

function finish(
  channel: ChannelState,
  contentType: string,
  id: string,
  body: string,
  secrets: RequestSecrets,
  now: Date,
  own: Record<string, string>,
): PartnerRequest {
  const headers: Record<string, string> = {
    ...channel.headers,
    ...secrets.secretHeaders,
    'content-type': contentType,
    'user-agent': USER_AGENT,
    'idempotency-key': id,
    'webhook-id': id,
    ...own,
  };
  if (secrets.authorization) headers.authorization = secrets.authorization;
  if (channel.signing.enabled && secrets.signingSecrets.length > 0) {
    const timestamp = Math.floor(now.getTime() / 1000).toString();
    headers['webhook-timestamp'] = timestamp;
    headers['webhook-signature'] = secrets.signingSecrets.map((s) => sign(s, id, timestamp, body)).join(' ');
  }
  return { url: channel.url ?? '', headers, body };
}

/** What may stand before an XML document's root element: a byte order mark, white space, the declaration, comments, processing instructions. */
const PROLOG_PART = /^(?:\uFEFF|\s+|<\?[\s\S]*?\?>|<!--[\s\S]*?-->)/;
/** A document type declaration, with its internal subset (no `]` inside a subset's declarations is assumed). */
const DOCTYPE = /^<!DOCTYPE[^[>]*(?:\[[\s\S]*?\])?\s*>/i;

/** The document from its root element on (a prolog inside a list envelope is ill-formed). */
export function withoutProlog(doc: string): string {
  let rest = doc;
  for (;;) {
    const m = PROLOG_PART.exec(rest) ?? DOCTYPE.exec(rest);
    if (!m || m[0].length === 0) return rest;
    rest = rest.slice(m[0].length);
  }
}

/**
 * A single delivery's body: the document itself for XML and X12; for JSON the envelope of
 * API.md, with the payload spliced in as the text it was sent as (never re-serialised: numbers of
 * any size and precision and every escape reach the partner as sent).
 */
export function renderBody(delivery: DeliveryRequest, attempt: number): string {
  const payload = payloadTextOf(delivery);
  if (delivery.format !== 'JSON') return payload;
  const head = JSON.stringify(envelopeHead(delivery.transaction, { id: delivery.deliveryId, attempt }));
  return `${head.slice(0, -1)},"payload":${payload}}`;
}

/** Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed by the secret's bytes. */
export function sign(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
