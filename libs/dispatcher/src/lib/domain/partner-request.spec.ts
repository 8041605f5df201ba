import { createHmac, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import type { ChannelState, DeliveryRequestedV1 } from '@waybill/contracts';
import { buildBatchRequest, buildPartnerRequest, RequestSecrets, USER_AGENT } from './partner-request';

const NOW = new Date('2030-01-01T12:00:00.750Z');
const NOW_S = '1893499200';
const AT = '2030-01-01T00:00:00.000Z';
const SECRET_A = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const SECRET_B = `whsec_${Buffer.from('fedcba9876543210fedcba9876543210').toString('base64')}`;

function channel(over: Partial<ChannelState> = {}): ChannelState {
  return {
    id: 'ch_1',
    orgId: 'org_1',
    version: 1,
    name: 'Acme ERP',
    type: 'HTTP',
    url: 'https://erp.acme.example/orderful?tenant=7',
    format: 'JSON',
    auth: { type: 'NONE' },
    signing: { enabled: false, secrets: [] },
    headers: {},
    enabled: true,
    timeoutMs: 30_000,
    retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
    batch: null,
    maxConcurrency: 10,
    visibilityTimeoutMs: 60_000,
    circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
    createdAt: AT,
    updatedAt: AT,
    ...over,
  };
}

function delivery(over: Partial<DeliveryRequestedV1> = {}): DeliveryRequestedV1 {
  return {
    deliveryId: 'dl_1',
    transactionId: 'tx_1',
    channelId: 'ch_1',
    generation: 1,
    format: 'JSON',
    transaction: {
      id: 'tx_1',
      relationshipId: 'rel_1',
      senderId: 'acme',
      receiverId: 'globex',
      transactionType: '850',
      businessNumber: 'PO-1',
      stream: 'LIVE',
      createdAt: AT,
    },
    payload: { po: 'PO-1', lines: [{ sku: 'A', qty: 2 }] },
    ...over,
  };
}

const NO_SECRETS: RequestSecrets = { authorization: null, signingSecrets: [] };
const signed = (...signingSecrets: string[]) => ({ channel: channel({ signing: { enabled: true, secrets: [] } }), secrets: { authorization: null, signingSecrets } });

/** Standard Webhooks verification, written from the spec, independently of the code under test. */
function verify(secret: string, headers: Record<string, string>, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const content = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = Buffer.from(createHmac('sha256', key).update(content, 'utf8').digest('base64'));
  return headers['webhook-signature'].split(' ').some((part) => {
    const [version, signature] = part.split(',');
    const given = Buffer.from(signature ?? '');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Headers by lower-case name, failing the test when one is given twice in different cases. */
function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower in out) throw new Error(`header ${lower} is set twice`);
    out[lower] = value;
  }
  return out;
}

describe('buildPartnerRequest: what a partner endpoint receives', () => {
  it('goes to the channel URL, query string included', () => {
    expect(buildPartnerRequest(channel(), delivery(), 1, NO_SECRETS, NOW).url).toBe('https://erp.acme.example/orderful?tenant=7');
  });

  it('carries the transaction id as Idempotency-Key, webhook-id and Waybill-Transaction-Id, with the delivery id and attempt number', () => {
    const headers = lowerCased(buildPartnerRequest(channel(), delivery(), 3, NO_SECRETS, NOW).headers);
    expect(headers).toMatchObject({
      'idempotency-key': 'tx_1',
      'webhook-id': 'tx_1',
      'waybill-transaction-id': 'tx_1',
      'waybill-delivery-id': 'dl_1',
      'waybill-attempt': '3',
      'user-agent': USER_AGENT,
    });
    expect(USER_AGENT).toMatch(/^Waybill\/\d/);
  });

  it('the first try is Waybill-Attempt 1', () => {
    expect(lowerCased(buildPartnerRequest(channel(), delivery(), 1, NO_SECRETS, NOW).headers)['waybill-attempt']).toBe('1');
  });

  it('a new delivery (redelivery) keeps the transaction id as Idempotency-Key and gets its own delivery id', () => {
    const headers = lowerCased(buildPartnerRequest(channel(), delivery({ deliveryId: 'dl_2', generation: 2 }), 1, NO_SECRETS, NOW).headers);
    expect(headers['idempotency-key']).toBe('tx_1');
    expect(headers['waybill-delivery-id']).toBe('dl_2');
  });

  it.each([
    ['JSON', 'application/json', { po: 1 }],
    ['XML', 'application/xml', '<Order/>'],
    ['X12', 'application/edi-x12', 'ISA*00~'],
  ] as const)('format %s is sent as %s', (format, contentType, payload) => {
    const { headers } = buildPartnerRequest(channel({ format }), delivery({ format, payload }), 1, NO_SECRETS, NOW);
    expect(lowerCased(headers)['content-type']).toBe(contentType);
  });

  it("carries the channel's static headers", () => {
    const { headers } = buildPartnerRequest(channel({ headers: { 'X-Partner': 'acme', 'x-env': 'prod' } }), delivery(), 1, NO_SECRETS, NOW);
    expect(lowerCased(headers)).toMatchObject({ 'x-partner': 'acme', 'x-env': 'prod' });
  });

  it("a static header never replaces one Waybill sets (same name, lower case)", () => {
    const { headers } = buildPartnerRequest(
      channel({ headers: { 'idempotency-key': 'mine', 'content-type': 'text/plain', 'waybill-attempt': '99' } }),
      delivery(),
      2,
      NO_SECRETS,
      NOW,
    );
    expect(lowerCased(headers)).toMatchObject({ 'idempotency-key': 'tx_1', 'content-type': 'application/json', 'waybill-attempt': '2' });
  });

  it("carries the channel's auth header", () => {
    const { headers } = buildPartnerRequest(channel(), delivery(), 1, { authorization: 'Bearer t0ken', signingSecrets: [] }, NOW);
    expect(lowerCased(headers).authorization).toBe('Bearer t0ken');
  });

  it("carries the channel's secret headers, in clear, beside its static ones, in single, batched and alert requests", () => {
    const c = channel({ headers: { 'X-Partner': 'acme' }, secretHeaders: { 'X-API-Key': 'enc:v1:sealed' } });
    const secrets: RequestSecrets = { authorization: null, signingSecrets: [], secretHeaders: { 'X-API-Key': 'k3y' } };
    for (const { headers } of [
      buildPartnerRequest(c, delivery(), 1, secrets, NOW),
      buildBatchRequest(c, 'bat_1', [delivery()], 1, secrets, NOW),
    ]) {
      expect(headers).toMatchObject({ 'X-Partner': 'acme', 'X-API-Key': 'k3y' });
      expect(JSON.stringify(headers)).not.toContain('enc:v1:');
    }
  });

  it('a secret header never replaces one Waybill sets', () => {
    const secrets: RequestSecrets = { authorization: 'Bearer t', signingSecrets: [], secretHeaders: { authorization: 'mine', 'idempotency-key': 'mine' } };
    expect(lowerCased(buildPartnerRequest(channel(), delivery(), 1, secrets, NOW).headers)).toMatchObject({ authorization: 'Bearer t', 'idempotency-key': 'tx_1' });
  });

  it('without auth, sends no Authorization header', () => {
    expect(lowerCased(buildPartnerRequest(channel(), delivery(), 1, NO_SECRETS, NOW).headers)).not.toHaveProperty('authorization');
  });

  describe('body', () => {
    it('JSON: the envelope of API.md, with the payload as given', () => {
      const { body } = buildPartnerRequest(channel(), delivery(), 2, NO_SECRETS, NOW);
      expect(JSON.parse(body)).toEqual({
        id: 'tx_1',
        relationshipId: 'rel_1',
        senderId: 'acme',
        receiverId: 'globex',
        transactionType: '850',
        businessNumber: 'PO-1',
        stream: 'LIVE',
        createdAt: AT,
        delivery: { id: 'dl_1', attempt: 2 },
        payload: { po: 'PO-1', lines: [{ sku: 'A', qty: 2 }] },
      });
    });

    it('JSON: a null business number is sent as null', () => {
      const d = delivery();
      const { body } = buildPartnerRequest(channel(), { ...d, transaction: { ...d.transaction, businessNumber: null } }, 1, NO_SECRETS, NOW);
      expect(JSON.parse(body).businessNumber).toBeNull();
    });

    it('JSON: any JSON payload arrives as the same value', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (payload) => {
          const { body } = buildPartnerRequest(channel(), delivery({ payload }), 1, NO_SECRETS, NOW);
          expect(JSON.parse(body).payload).toEqual(JSON.parse(JSON.stringify(payload)));
        }),
      );
    });

    it.each([
      ['XML', '<?xml version="1.0"?><Order><Number>PO-1</Number></Order>'],
      ['X12', 'ISA*00*          *00*          *ZZ*ACME~GS*PO~'],
    ] as const)('%s: the document itself, byte for byte', (format, payload) => {
      expect(buildPartnerRequest(channel({ format }), delivery({ format, payload }), 1, NO_SECRETS, NOW).body).toBe(payload);
    });
  });

  describe('Standard Webhooks signature', () => {
    it('an unsigned channel sends no webhook-timestamp or webhook-signature', () => {
      const headers = lowerCased(buildPartnerRequest(channel(), delivery(), 1, NO_SECRETS, NOW).headers);
      expect(headers).not.toHaveProperty('webhook-signature');
      expect(headers).not.toHaveProperty('webhook-timestamp');
    });

    it('webhook-timestamp is the time of the attempt in whole seconds', () => {
      const { channel: c, secrets } = signed(SECRET_A);
      expect(lowerCased(buildPartnerRequest(c, delivery(), 1, secrets, NOW).headers)['webhook-timestamp']).toBe(NOW_S);
    });

    it('webhook-signature is v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}"> keyed by the secret bytes', () => {
      const { channel: c, secrets } = signed(SECRET_A);
      const { headers, body } = buildPartnerRequest(c, delivery(), 1, secrets, NOW);
      const key = Buffer.from('0123456789abcdef0123456789abcdef');
      const expected = createHmac('sha256', key).update(`tx_1.${NOW_S}.${body}`).digest('base64');
      expect(lowerCased(headers)['webhook-signature']).toBe(`v1,${expected}`);
      expect(verify(SECRET_A, lowerCased(headers), body)).toBe(true);
    });

    it('a receiver holding another secret does not verify it', () => {
      const { channel: c, secrets } = signed(SECRET_A);
      const { headers, body } = buildPartnerRequest(c, delivery(), 1, secrets, NOW);
      expect(verify(SECRET_B, lowerCased(headers), body)).toBe(false);
    });

    it('a tampered body does not verify', () => {
      const { channel: c, secrets } = signed(SECRET_A);
      const { headers, body } = buildPartnerRequest(c, delivery(), 1, secrets, NOW);
      expect(verify(SECRET_A, lowerCased(headers), body.replace('PO-1', 'PO-2'))).toBe(false);
    });

    it('during a rotation, two secrets give two space-separated signatures, each verifying with its own secret', () => {
      const { channel: c, secrets } = signed(SECRET_B, SECRET_A);
      const { headers, body } = buildPartnerRequest(c, delivery(), 1, secrets, NOW);
      const h = lowerCased(headers);
      expect(h['webhook-signature'].split(' ')).toHaveLength(2);
      expect(h['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
      expect(verify(SECRET_A, h, body)).toBe(true);
      expect(verify(SECRET_B, h, body)).toBe(true);
    });

    it('for any secret of 24–64 random bytes, any payload, format and attempt, a Standard Webhooks receiver verifies the request', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 24, maxLength: 64 }).map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`),
          fc.oneof(
            fc.jsonValue().map((payload) => ({ format: 'JSON' as const, payload })),
            fc.string({ unit: 'grapheme' }).map((s) => ({ format: 'XML' as const, payload: `<a>${s}</a>` })),
            fc.string({ unit: 'grapheme' }).map((s) => ({ format: 'X12' as const, payload: `ISA*${s}~` })),
          ),
          fc.integer({ min: 1, max: 21 }),
          fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
          (secret, { format, payload }, attempt, now) => {
            const c = channel({ format, signing: { enabled: true, secrets: [] } });
            const { headers, body } = buildPartnerRequest(c, delivery({ format, payload }), attempt, { authorization: null, signingSecrets: [secret] }, now);
            const h = lowerCased(headers);
            expect(h['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
            expect(verify(secret, h, body)).toBe(true);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('a channel with signing off sends no signature even if secrets are at hand', () => {
      const headers = lowerCased(buildPartnerRequest(channel(), delivery(), 1, { authorization: null, signingSecrets: [SECRET_A] }, NOW).headers);
      expect(headers).not.toHaveProperty('webhook-signature');
    });
  });
});

describe('buildBatchRequest: a batch in one POST (API.md, "Batched")', () => {
  const items = [delivery(), delivery({ deliveryId: 'dl_2', transactionId: 'tx_2', transaction: { ...delivery().transaction, id: 'tx_2' }, payload: { po: 'PO-2' } })];

  it('carries the batch id as Idempotency-Key, webhook-id and Waybill-Batch-Id, instead of a transaction id', () => {
    const headers = lowerCased(buildBatchRequest(channel(), 'bt_1', items, 2, NO_SECRETS, NOW).headers);
    expect(headers).toMatchObject({ 'idempotency-key': 'bt_1', 'webhook-id': 'bt_1', 'waybill-batch-id': 'bt_1', 'waybill-attempt': '2' });
    expect(headers).not.toHaveProperty('waybill-transaction-id');
  });

  it('JSON: { batchId, count, items } of the single bodies', () => {
    const { body } = buildBatchRequest(channel(), 'bt_1', items, 1, NO_SECRETS, NOW);
    const single = (d: DeliveryRequestedV1) => JSON.parse(buildPartnerRequest(channel(), d, 1, NO_SECRETS, NOW).body);
    expect(JSON.parse(body)).toEqual({ batchId: 'bt_1', count: 2, items: items.map(single) });
  });

  it('XML: each document inside <TransactionList count="n">, XML declarations removed', () => {
    const docs = [
      delivery({ format: 'XML', payload: '<?xml version="1.0" encoding="UTF-8"?>\n<Order n="1"/>' }),
      delivery({ format: 'XML', deliveryId: 'dl_2', payload: '<Order n="2"/>' }),
    ];
    const { body, headers } = buildBatchRequest(channel({ format: 'XML' }), 'bt_1', docs, 1, NO_SECRETS, NOW);
    expect(body).toBe('<TransactionList count="2"><Order n="1"/><Order n="2"/></TransactionList>');
    expect(lowerCased(headers)['content-type']).toBe('application/xml');
  });

  it('X12: the interchanges one after another', () => {
    const docs = [delivery({ format: 'X12', payload: 'ISA*1~IEA*1~' }), delivery({ format: 'X12', deliveryId: 'dl_2', payload: 'ISA*2~IEA*1~' })];
    expect(buildBatchRequest(channel({ format: 'X12' }), 'bt_1', docs, 1, NO_SECRETS, NOW).body).toBe('ISA*1~IEA*1~ISA*2~IEA*1~');
  });

  it('is signed over the batch id and the whole body', () => {
    const { channel: c, secrets } = signed(SECRET_A);
    const { headers, body } = buildBatchRequest(c, 'bt_1', items, 1, secrets, NOW);
    expect(verify(SECRET_A, lowerCased(headers), body)).toBe(true);
  });
});
