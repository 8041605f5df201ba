import fc from 'fast-check';
import { CreateChannelInput, UpdateChannelInput } from './channel.input';

const URL_OK = 'https://erp.acme.example/orderful';
const minimal = { name: 'Acme ERP', url: URL_OK };

function create(body: Record<string, unknown>) {
  return CreateChannelInput.safeParse({ ...minimal, ...body });
}
const accepts = (body: Record<string, unknown>) => create(body).success;
/** The paths of the fields a refusal names (as the 400 lists them). */
const pathsOf = (result: ReturnType<typeof create>) => (result.success ? [] : result.error.issues.map((i) => i.path.join('.')));

describe('CreateChannelInput: defaults (API.md: "Defaults apply to every omitted field")', () => {
  it('a channel given only a name and a url gets every default', () => {
    const parsed = CreateChannelInput.parse(minimal);
    expect(parsed).toEqual({
      name: 'Acme ERP',
      url: URL_OK,
      type: 'HTTP',
      format: 'JSON',
      auth: { type: 'NONE' },
      signing: { enabled: false },
      headers: {},
      secretHeaders: {},
      enabled: true,
      timeoutMs: 30_000,
      retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
      batch: null,
      maxConcurrency: 10,
      visibilityTimeoutMs: 60_000,
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
    });
  });

  it('a fixed retry policy given only its strategy gets 3 retries 30 s apart', () => {
    expect(CreateChannelInput.parse({ ...minimal, retryPolicy: { strategy: 'fixed' } }).retryPolicy).toEqual({
      strategy: 'fixed',
      maxRetries: 3,
      delayMs: 30_000,
    });
  });

  it('a fixed retry policy keeps the fields it was given and defaults the others', () => {
    expect(CreateChannelInput.parse({ ...minimal, retryPolicy: { strategy: 'fixed', maxRetries: 5 } }).retryPolicy).toEqual({
      strategy: 'fixed',
      maxRetries: 5,
      delayMs: 30_000,
    });
  });

  it('an exponential retry policy given only its strategy gets a default for each of its fields', () => {
    const policy = CreateChannelInput.parse({ ...minimal, retryPolicy: { strategy: 'exponential' } }).retryPolicy;
    expect(policy).toEqual({ strategy: 'exponential', initialDelayMs: 1_000, factor: 2, maxDelayMs: 3_600_000, maxDurationMs: 86_400_000 });
  });

  it('a circuit breaker given one field defaults the others', () => {
    expect(CreateChannelInput.parse({ ...minimal, circuitBreaker: { volumeThreshold: 20 } }).circuitBreaker).toEqual({
      errorThresholdPercentage: 50,
      volumeThreshold: 20,
      resetTimeoutMs: 30_000,
    });
  });

  it('a PULL channel needs no url', () => {
    expect(CreateChannelInput.safeParse({ name: 'Inbox', type: 'PULL' }).success).toBe(true);
  });

  it('a channel needs a name', () => {
    expect(pathsOf(CreateChannelInput.safeParse({ url: URL_OK }))).toEqual(['name']);
    expect(accepts({ name: '   ' })).toBe(false);
  });

  it('unknown fields are refused', () => {
    expect(pathsOf(create({ retries: 3 }))).toEqual(['']);
  });
});

describe('CreateChannelInput and UpdateChannelInput: ranges', () => {
  /** Field path → [min, max] from API.md, and a body that puts a value there. */
  const RANGES: [string, number, number, (n: number) => Record<string, unknown>][] = [
    ['timeoutMs', 100, 120_000, (n) => ({ timeoutMs: n })],
    ['retryPolicy.maxRetries', 0, 20, (n) => ({ retryPolicy: { strategy: 'fixed', maxRetries: n } })],
    ['retryPolicy.delayMs', 100, 86_400_000, (n) => ({ retryPolicy: { strategy: 'fixed', delayMs: n } })],
    ['batch.maxItems', 1, 50, (n) => ({ batch: { maxItems: n, maxWaitMs: 1_000 } })],
    ['batch.maxWaitMs', 0, 60_000, (n) => ({ batch: { maxItems: 10, maxWaitMs: n } })],
    ['retryPolicy.factor (exponential)', 1, 10, (n) => ({ retryPolicy: { strategy: 'exponential', factor: n } })],
    ['retryPolicy.maxDurationMs (exponential, ≤ 30 days)', 1_000, 30 * 86_400_000, (n) => ({ retryPolicy: { strategy: 'exponential', maxDurationMs: n } })],
  ];

  describe.each(RANGES)('%s', (_, min, max, body) => {
    it(`accepts ${min} and ${max}, refuses ${min - 1} and ${max + 1}`, () => {
      expect([min, max, min - 1, max + 1].map((n) => accepts(body(n)))).toEqual([true, true, false, false]);
    });

    it('accepts exactly the integers within the range (create and change alike)', () => {
      fc.assert(
        fc.property(fc.integer({ min: min - 2 * (max - min) - 10, max: max + 2 * (max - min) + 10 }), (n) => {
          const inRange = n >= min && n <= max;
          expect(accepts(body(n))).toBe(inRange);
          expect(UpdateChannelInput.safeParse(body(n)).success).toBe(inRange);
        }),
        { numRuns: 50 },
      );
    });
  });

  it('an exponential initialDelayMs is at least 100 ms', () => {
    expect(accepts({ retryPolicy: { strategy: 'exponential', initialDelayMs: 99 } })).toBe(false);
    expect(accepts({ retryPolicy: { strategy: 'exponential', initialDelayMs: 100 } })).toBe(true);
  });

  it.each([
    ['timeoutMs', { timeoutMs: 1_500.5 }],
    ['maxRetries', { retryPolicy: { strategy: 'fixed', maxRetries: 2.5 } }],
    ['batch.maxItems', { batch: { maxItems: 2.5, maxWaitMs: 0 } }],
  ])('%s must be an integer', (_, body) => {
    expect(accepts(body)).toBe(false);
  });

  it('a batch may be null (one transaction a request)', () => {
    expect(CreateChannelInput.parse({ ...minimal, batch: null }).batch).toBeNull();
  });

  it('an unknown retry strategy is refused', () => {
    expect(accepts({ retryPolicy: { strategy: 'linear' } })).toBe(false);
  });
});

describe('channel input: formats and auth', () => {
  it.each(['JSON', 'XML', 'X12'])('format %s is accepted', (format) => {
    expect(accepts({ format })).toBe(true);
  });

  it('an unknown format is refused', () => {
    expect(accepts({ format: 'CSV' })).toBe(false);
  });

  it.each([
    [{ type: 'NONE' }],
    [{ type: 'BASIC', username: 'waybill', password: 'pw' }],
    [{ type: 'BEARER', token: 't0ken' }],
    [{ type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 's' }],
    [{ type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 's', scope: 'transactions:write', audience: 'erp' }],
  ])('auth %j is accepted', (auth) => {
    expect(accepts({ auth })).toBe(true);
  });

  it.each([
    ['BASIC without password', { type: 'BASIC', username: 'waybill' }],
    ['BASIC with an empty password', { type: 'BASIC', username: 'waybill', password: '' }],
    ['BEARER without token', { type: 'BEARER' }],
    ['OAUTH2 without clientSecret', { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill' }],
    ['an unknown type', { type: 'DIGEST' }],
    ['NONE with a stray token', { type: 'NONE', token: 'x' }],
  ])('auth %s is refused', (_, auth) => {
    expect(accepts({ auth })).toBe(false);
  });

  it.each([
    ['an empty tokenUrl', ''],
    ['a tokenUrl that is not a URL', 'idp.acme.example/token'],
    ['a tokenUrl that is not http(s)', 'ftp://idp.acme.example/token'],
  ])('OAUTH2 with %s is refused (the token is fetched from it)', (_, tokenUrl) => {
    expect(accepts({ auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl, clientId: 'waybill', clientSecret: 's' } })).toBe(false);
  });
});

describe('channel input: static headers', () => {
  const RESERVED = [
    'Authorization',
    'Content-Type',
    'Content-Length',
    'Host',
    'User-Agent',
    'Idempotency-Key',
    'webhook-id',
    'webhook-timestamp',
    'webhook-signature',
    'Transfer-Encoding',
    'Connection',
    'Waybill-Transaction-Id',
    'Waybill-Delivery-Id',
    'Waybill-Attempt',
    'Waybill-Batch-Id',
  ];

  it('ordinary headers are kept as given', () => {
    expect(CreateChannelInput.parse({ ...minimal, headers: { 'X-Partner': 'acme', 'x-env': 'prod' } }).headers).toEqual({
      'X-Partner': 'acme',
      'x-env': 'prod',
    });
  });

  it.each(RESERVED)('%s is set by Waybill: a channel cannot set it', (name) => {
    const result = create({ headers: { [name]: 'mine' } });
    expect(pathsOf(result)).toEqual([`headers.${name}`]);
    expect(UpdateChannelInput.safeParse({ headers: { [name]: 'mine' } }).success).toBe(false);
  });

  it('a reserved header is refused in any letter case', () => {
    fc.assert(
      fc.property(fc.constantFrom(...RESERVED), fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }), (name, upper) => {
        const cased = [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join('');
        expect(accepts({ headers: { [cased]: 'mine' } })).toBe(false);
      }),
    );
  });

  it.each(['X Partner', 'X-Partner:', 'Ünicode', ''])('the header name %j is not a valid header name', (name) => {
    expect(accepts({ headers: { [name]: 'v' } })).toBe(false);
  });

  it.each([
    ['a line break (header injection)', 'acme\r\nX-Injected: 1'],
    ['a bare line feed', 'acme\nX-Injected: 1'],
    ['a NUL character', 'acme\u0000'],
  ])('a header value with %s is refused (undici would refuse to send it, on every attempt)', (_, value) => {
    expect(accepts({ headers: { 'X-Partner': value } })).toBe(false);
  });
});

describe('channel input: control characters and malformed Unicode (a credential that breaks every delivery)', () => {
  const EVIL = 'a\r\nX-Evil: 1';
  const OAUTH = { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 's' };
  it.each<[string, Record<string, unknown>, string]>([
    ['a BASIC username', { auth: { type: 'BASIC', username: EVIL, password: 'p' } }, 'auth.username'],
    ['a BASIC password', { auth: { type: 'BASIC', username: 'u', password: EVIL } }, 'auth.password'],
    ['a BEARER token', { auth: { type: 'BEARER', token: EVIL } }, 'auth.token'],
    ['a BEARER token with characters no header carries', { auth: { type: 'BEARER', token: 'tok€n' } }, 'auth.token'],
    ['an OAuth2 clientId', { auth: { ...OAUTH, clientId: EVIL } }, 'auth.clientId'],
    ['an OAuth2 clientSecret', { auth: { ...OAUTH, clientSecret: EVIL } }, 'auth.clientSecret'],
    ['an OAuth2 scope', { auth: { ...OAUTH, scope: 'a\u0000' } }, 'auth.scope'],
    ['an OAuth2 audience', { auth: { ...OAUTH, audience: '\ud800' } }, 'auth.audience'],
    ['an OAuth2 tokenUrl', { auth: { ...OAUTH, tokenUrl: 'https://idp.acme.example/\u0000' } }, 'auth.tokenUrl'],
    ['the url', { url: 'https://erp.acme.example/\ud800' }, 'url'],
    ['the name', { name: 'Acme\u0000' }, 'name'],
    ['a header value (a tab)', { headers: { 'X-Partner': 'a\tb' } }, 'headers.X-Partner'],
    ['a header value (a C1 control)', { headers: { 'X-Partner': 'a\u0085b' } }, 'headers.X-Partner'],
    ['a header name', { headers: { 'X-\u0000': 'v' } }, 'headers.#0'],
    ['a secret header value', { secretHeaders: { 'X-API-Key': EVIL } }, 'secretHeaders.X-API-Key'],
    ['a secret header name', { secretHeaders: { 'X-API\r\nKey': 'k' } }, 'secretHeaders.#0'],
  ])('%s with control characters is refused, naming the field', (_, body, path) => {
    expect(pathsOf(create(body))).toEqual([path]);
  });

  it('the same fields of a change are refused alike', () => {
    expect(UpdateChannelInput.safeParse({ auth: { type: 'BEARER', token: EVIL } }).success).toBe(false);
    expect(UpdateChannelInput.safeParse({ secretHeaders: { 'X-API-Key': EVIL } }).success).toBe(false);
    expect(UpdateChannelInput.safeParse({ name: 'x\ud800' }).success).toBe(false);
  });

  it('secret headers follow the rules of headers: no reserved name, a non-empty value', () => {
    expect(pathsOf(create({ secretHeaders: { Authorization: 'Bearer x' } }))).toEqual(['secretHeaders.Authorization']);
    expect(pathsOf(create({ secretHeaders: { 'X-API-Key': '' } }))).toEqual(['secretHeaders.X-API-Key']);
    expect(CreateChannelInput.parse({ ...minimal, secretHeaders: { 'X-API-Key': 'k3y' } }).secretHeaders).toEqual({ 'X-API-Key': 'k3y' });
  });
});

describe('UpdateChannelInput', () => {
  it('every field may be left out', () => {
    expect(UpdateChannelInput.parse({})).toEqual({});
  });

  it('changes only what it is given (no defaults are filled in for a change)', () => {
    expect(UpdateChannelInput.parse({ timeoutMs: 5_000 })).toEqual({ timeoutMs: 5_000 });
  });

  it('a url may be cleared with null', () => {
    expect(UpdateChannelInput.parse({ url: null })).toEqual({ url: null });
  });

  it('unknown fields are refused', () => {
    expect(UpdateChannelInput.safeParse({ colour: 'blue' }).success).toBe(false);
  });
});
