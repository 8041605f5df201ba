import type { ChannelState } from '@waybill/contracts';
import { REDACTED, sentRequest } from './sent-request';

const header = {
  id: 'tx_1',
  relationshipId: 'rel_1',
  senderId: 'ACME',
  receiverId: 'GLOBEX',
  transactionType: '850',
  businessNumber: 'PO-1',
  stream: 'LIVE' as const,
  createdAt: '2026-01-01T00:00:00.000Z',
};

function channel(over: Partial<ChannelState> = {}): ChannelState {
  return {
    id: 'ch_1',
    orgId: 'org_1',
    version: 1,
    name: 'Acme',
    type: 'HTTP',
    url: 'https://erp.acme.example/in',
    format: 'JSON',
    auth: { type: 'BASIC', username: 'acme', password: 'enc:v1:abc' },
    signing: { enabled: true, secrets: [{ secret: 'enc:v1:def', createdAt: header.createdAt, expiresAt: null }] },
    headers: { 'X-Partner': 'acme', 'X-Api-Key': 'k-123', 'X-Session-Token': 't-456' },
    enabled: true,
    timeoutMs: 30_000,
    retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
    batch: null,
    maxConcurrency: 10,
    visibilityTimeoutMs: 60_000,
    circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
    createdAt: header.createdAt,
    updatedAt: header.createdAt,
    ...over,
  };
}

describe('sentRequest: what a partner receives, secrets left out', () => {
  it('wraps the JSON payload’s own text in the envelope, for the attempt asked', () => {
    const payload = '{"amount":12345678901234567890.10,"note":"a\\u0000b"}';
    const view = sentRequest({ header, format: 'JSON', payload, channel: channel(), attempt: { deliveryId: 'dl_1', attempt: 2 } });
    expect(view.payload).toBe(payload);
    expect(view.request?.body).toBe(
      '{"id":"tx_1","relationshipId":"rel_1","senderId":"ACME","receiverId":"GLOBEX","transactionType":"850","businessNumber":"PO-1",' +
        `"stream":"LIVE","createdAt":"2026-01-01T00:00:00.000Z","delivery":{"id":"dl_1","attempt":2},"payload":${payload}}`,
    );
    const headers = Object.fromEntries(view.request!.headers.map((h) => [h.name, h.value]));
    expect(headers).toMatchObject({ 'waybill-delivery-id': 'dl_1', 'waybill-attempt': '2', 'idempotency-key': 'tx_1', 'content-type': 'application/json' });
  });

  it('never shows a credential, a signature or a secret-looking static header', () => {
    const view = sentRequest({ header, format: 'JSON', payload: '{}', channel: channel() });
    const byName = new Map(view.request!.headers.map((h) => [h.name, h]));
    expect(byName.get('authorization')).toEqual({ name: 'authorization', value: `Basic ${REDACTED}`, redacted: true });
    expect(byName.get('webhook-signature')).toEqual({ name: 'webhook-signature', value: REDACTED, redacted: true });
    expect(byName.get('X-Api-Key')?.value).toBe(REDACTED);
    expect(byName.get('X-Session-Token')?.value).toBe(REDACTED);
    expect(byName.get('X-Partner')).toEqual({ name: 'X-Partner', value: 'acme', redacted: false });
    expect(JSON.stringify(view)).not.toMatch(/enc:v1|k-123|t-456/);
  });

  it('leaves out the per-attempt parts when no attempt is asked', () => {
    const view = sentRequest({ header, format: 'JSON', payload: '[1]', channel: channel({ auth: { type: 'NONE' }, signing: { enabled: false, secrets: [] } }) });
    expect(JSON.parse(view.request!.body)).toMatchObject({ delivery: null, payload: [1] });
    const names = view.request!.headers.map((h) => h.name);
    expect(names).not.toContain('waybill-attempt');
    expect(names).not.toContain('authorization');
    expect(names).not.toContain('webhook-signature');
  });

  it('sends an XML or X12 document as it is', () => {
    const doc = '<?xml version="1.0"?><Order/>';
    const view = sentRequest({ header, format: 'XML', payload: doc, channel: channel({ format: 'XML' }) });
    expect(view).toMatchObject({ contentType: 'application/xml', payload: doc, request: { body: doc } });
  });

  it('has no request for a PULL channel or a channel that is gone', () => {
    expect(sentRequest({ header, format: 'JSON', payload: '{}', channel: channel({ type: 'PULL', url: null }) }).request).toBeNull();
    expect(sentRequest({ header, format: 'JSON', payload: '{}', channel: undefined }).request).toBeNull();
  });
});
