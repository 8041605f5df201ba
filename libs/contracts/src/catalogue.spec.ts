import fc from 'fast-check';
import { EVENT_CATALOGUE, EventData, EventType, makeEvent, parseEvent, topicOf } from './catalogue';
import { Topics } from './topics';

const AT = '2030-01-01T00:00:00.000Z';
const SEALED = 'enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const HEADER = {
  id: 'tx_1',
  relationshipId: 'rel_1',
  senderId: 'acme',
  receiverId: 'globex',
  transactionType: '850',
  businessNumber: 'PO-1',
  stream: 'LIVE' as const,
  createdAt: AT,
};

const CHANNEL: EventData<'channel.upserted.v1'> = {
  id: 'ch_1',
  orgId: 'org_1',
  version: 1,
  name: 'Acme ERP',
  type: 'HTTP',
  url: 'https://erp.acme.example/orderful',
  format: 'JSON',
  auth: { type: 'BASIC', username: 'waybill', password: SEALED },
  signing: { enabled: true, secrets: [{ secret: SEALED, createdAt: AT, expiresAt: null }] },
  headers: { 'X-Partner': 'acme' },
  enabled: true,
  timeoutMs: 30_000,
  retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
  batch: null,
  maxConcurrency: 10,
  visibilityTimeoutMs: 60_000,
  circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
  createdAt: AT,
  updatedAt: AT,
};

/** A valid `data` for every event type of the catalogue. */
const VALID: { [T in EventType]: EventData<T> } = {
  'api-key.issued.v1': { apiKeyId: 'key_1', orgId: 'org_1', keyHash: 'a'.repeat(64), prefix: 'wb_live_ab', createdAt: AT },
  'api-key.revoked.v1': { apiKeyId: 'key_1', orgId: 'org_1', revokedAt: AT },
  'channel.upserted.v1': CHANNEL,
  'org.settings-changed.v1': { orgId: 'org_1', defaultInboundChannelId: 'ch_1', alertChannelId: null },
  'relationship.upserted.v1': {
    id: 'rel_1',
    orgId: 'org_1',
    version: 1,
    senderId: 'acme',
    receiverId: 'globex',
    transactionType: '850',
    channelId: 'ch_1',
    channelSource: 'EXPLICIT',
    createdAt: AT,
  },
  'delivery.requested.v1': {
    deliveryId: 'dl_1',
    transactionId: 'tx_1',
    channelId: 'ch_1',
    generation: 1,
    format: 'JSON',
    transaction: HEADER,
    payload: { po: 1 },
  },
  'delivery.requested.v2': {
    deliveryId: 'dl_1',
    transactionId: 'tx_1',
    channelId: 'ch_1',
    generation: 1,
    format: 'JSON',
    transaction: HEADER,
    payloadText: '{"po": 12345678901234567890123}',
  },
  'transaction.received.v1': { ...HEADER, channelId: 'ch_1', format: 'JSON', payloadBytes: 8 },
  'transaction.received.v2': { ...HEADER, channelId: 'ch_1', format: 'JSON', payloadBytes: 8, deliveryId: 'dl_1', generation: 1 },
  'transaction.routed.v1': { transactionId: 'tx_1', channelId: 'ch_1', deliveryId: 'dl_1', generation: 1 },
  'delivery.started.v1': { transactionId: 'tx_1', deliveryId: 'dl_1', channelId: 'ch_1', attempt: 1, at: AT },
  'delivery.attempted.v1': {
    transactionId: 'tx_1',
    deliveryId: 'dl_1',
    channelId: 'ch_1',
    attempt: 1,
    at: AT,
    statusCode: 503,
    outcome: 'RETRYABLE',
    durationMs: 120,
    error: null,
    responseExcerpt: 'busy',
  },
  'delivery.retry-scheduled.v1': { transactionId: 'tx_1', deliveryId: 'dl_1', attempt: 2, dueAt: AT },
  'delivery.deferred.v1': { transactionId: 'tx_1', deliveryId: 'dl_1', reason: 'CIRCUIT_OPEN', until: null },
  'transaction.accepted.v1': { transactionId: 'tx_1', deliveryId: null, by: 'API' },
  'transaction.dispatched.v1': { transactionId: 'tx_1', deliveryId: 'dl_1' },
  'transaction.rejected.v1': { transactionId: 'tx_1', deliveryId: 'dl_1', statusCode: 400 },
  'transaction.failed.v1': { transactionId: 'tx_1', deliveryId: 'dl_1', reason: '3 retries spent' },
  'transaction.redelivery-requested.v1': { transactionId: 'tx_1', requestedAt: AT },
  'channel.usage-reported.v1': { channelId: 'ch_1', requestId: 'del_1', count: 0, relationshipIds: [] },
  'transaction.redelivery-refused.v1': { transactionId: 'tx_1', requestId: '0190c5c2-0000-7000-8000-000000000001', reason: 'the relationship no longer exists' },
  'channel.circuit-opened.v1': { channelId: 'ch_1', at: AT, reason: '5 of 10 failed' },
  'channel.circuit-closed.v1': { channelId: 'ch_1', at: AT },
  'delivery.exhausted.v1': { channelId: 'ch_1', transactionId: 'tx_1', deliveryId: 'dl_1', attempts: 4, at: AT, lastError: 'HTTP 503' },
};

const TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];
const TOPICS = Object.values(Topics);

function envelope(type: string, data: unknown, over: Record<string, unknown> = {}) {
  return { eventId: '01890a5d-ac96-774b-bcce-b302099a8057', type, occurredAt: AT, orgId: 'org_1', key: 'k_1', data, ...over };
}

function reasonOf(result: ReturnType<typeof parseEvent>): string {
  if (result.ok) throw new Error(`expected a refusal, the event was accepted: ${JSON.stringify(result.event)}`);
  return result.reason;
}

describe('parseEvent', () => {
  it('the test catalogue covers every event type', () => {
    expect(Object.keys(VALID).sort()).toEqual([...TYPES].sort());
  });

  describe.each(TYPES)('%s', (type) => {
    it('a valid event is accepted on its own topic, with its data', () => {
      const result = parseEvent(envelope(type, VALID[type]), topicOf(type));
      expect(result).toEqual({ ok: true, event: envelope(type, VALID[type]) });
    });

    it('a valid event is accepted when the topic is not checked', () => {
      expect(parseEvent(envelope(type, VALID[type])).ok).toBe(true);
    });

    it('is refused on any other topic (but one it travelled on before), naming the type and the topic', () => {
      const former: readonly string[] = (EVENT_CATALOGUE[type] as { formerTopics?: readonly string[] }).formerTopics ?? [];
      for (const topic of TOPICS.filter((t) => t !== topicOf(type) && !former.includes(t))) {
        const reason = reasonOf(parseEvent(envelope(type, VALID[type]), topic));
        expect(reason).toContain(type);
        expect(reason).toContain(topic);
      }
    });

    it('is still read on the topics it travelled on before', () => {
      const former: readonly string[] = (EVENT_CATALOGUE[type] as { formerTopics?: readonly string[] }).formerTopics ?? [];
      for (const topic of former) expect(parseEvent(envelope(type, VALID[type]), topic).ok).toBe(true);
    });

    it('bad data (an empty object) is refused with a reason that names the type', () => {
      expect(reasonOf(parseEvent(envelope(type, {})))).toMatch(new RegExp(`^${type.replace(/\./g, '\\.')}: `));
    });

    it('missing data is refused', () => {
      expect(parseEvent(envelope(type, undefined)).ok).toBe(false);
    });

    it('an event built with makeEvent parses back to itself', () => {
      const built = makeEvent(type, {
        eventId: '01890a5d-ac96-774b-bcce-b302099a8057',
        occurredAt: AT,
        orgId: 'org_1',
        key: 'k_1',
        data: VALID[type] as never,
      });
      expect(parseEvent(JSON.parse(JSON.stringify(built)), topicOf(type))).toEqual({ ok: true, event: built });
    });
  });

  it('an occurredAt with a UTC offset is accepted', () => {
    expect(parseEvent(envelope('transaction.routed.v1', VALID['transaction.routed.v1'], { occurredAt: '2030-01-01T02:00:00+02:00' })).ok).toBe(true);
  });

  describe('bad envelopes are refused, with a reason that says it is the envelope', () => {
    const good = envelope('transaction.routed.v1', VALID['transaction.routed.v1']);
    const { eventId: _e, ...noEventId } = good;
    const { orgId: _o, ...noOrgId } = good;
    const { key: _k, ...noKey } = good;
    const { type: _t, ...noType } = good;
    const { occurredAt: _a, ...noOccurredAt } = good;
    it.each<[string, unknown]>([
      ['null', null],
      ['a string', 'transaction.routed.v1'],
      ['a number', 42],
      ['an array', [good]],
      ['no eventId', noEventId],
      ['an eventId that is not a UUID', { ...good, eventId: 'evt_1' }],
      ['no type', noType],
      ['an empty type', { ...good, type: '' }],
      ['no occurredAt', noOccurredAt],
      ['an occurredAt that is not RFC 3339', { ...good, occurredAt: '01/01/2030' }],
      ['an occurredAt that is a number', { ...good, occurredAt: Date.parse(AT) }],
      ['no orgId', noOrgId],
      ['an empty orgId', { ...good, orgId: '' }],
      ['no key', noKey],
      ['an empty key', { ...good, key: '' }],
    ])('%s', (_, raw) => {
      expect(reasonOf(parseEvent(raw))).toMatch(/^envelope: /);
    });
  });

  it.each(['delivery.attempted.v2', 'delivery.attempted', 'invented.v1', 'constructor', '__proto__', 'toString'])(
    'the unknown type %j is refused as unknown',
    (type) => {
      expect(reasonOf(parseEvent(envelope(type, {})))).toBe(`unknown event type ${JSON.stringify(type)}`);
    },
  );

  describe('bad data is refused', () => {
    const bad = <T extends EventType>(type: T, data: Record<string, unknown>) => reasonOf(parseEvent(envelope(type, { ...VALID[type], ...data }), topicOf(type)));

    it('an attempt outcome outside the five outcomes', () => {
      expect(bad('delivery.attempted.v1', { outcome: 'MAYBE' })).toContain('outcome');
    });

    it('an attempt number of 0', () => {
      expect(bad('delivery.attempted.v1', { attempt: 0 })).toContain('attempt');
    });

    it('a status code that is not an integer', () => {
      expect(bad('delivery.attempted.v1', { statusCode: '503' })).toContain('statusCode');
    });

    it('a generation of 0', () => {
      expect(bad('transaction.routed.v1', { generation: 0 })).toContain('generation');
    });

    it('an API key hash that is not 64 hex characters (the key itself must never travel)', () => {
      expect(bad('api-key.issued.v1', { keyHash: 'wb_live_the-key-itself' })).toContain('keyHash');
    });

    it('a channel carrying a credential in clear', () => {
      const reason = bad('channel.upserted.v1', { auth: { type: 'BEARER', token: 'the-token-itself' } });
      expect(reason).toContain('encrypted');
    });

    it('a channel carrying a signing secret in clear', () => {
      const reason = bad('channel.upserted.v1', { signing: { enabled: true, secrets: [{ secret: 'whsec_abc', createdAt: AT, expiresAt: null }] } });
      expect(reason).toContain('encrypted');
    });

    it('a transaction stream other than LIVE or TEST', () => {
      expect(bad('transaction.received.v1', { stream: 'PROD' })).toContain('stream');
    });

    it('a deferral for a reason it does not know', () => {
      expect(bad('delivery.deferred.v1', { reason: 'BORED' })).toContain('reason');
    });

    it('a due time that is not RFC 3339', () => {
      expect(bad('delivery.retry-scheduled.v1', { dueAt: 'tomorrow' })).toContain('dueAt');
    });
  });

  it('never throws: whatever arrives, it answers with an event or a reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({ eventId: fc.uuid(), type: fc.constantFrom(...TYPES), occurredAt: fc.constant(AT), orgId: fc.string(), key: fc.string(), data: fc.anything() }),
        ),
        fc.option(fc.constantFrom(...TOPICS, 'not-a-topic'), { nil: undefined }),
        (raw, topic) => {
          const result = parseEvent(raw, topic);
          if (!result.ok) expect(result.reason).toMatch(/\S/);
        },
      ),
    );
  });
});
