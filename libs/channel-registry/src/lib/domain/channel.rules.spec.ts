import fc from 'fast-check';
import { ChannelState } from '@waybill/contracts';
import { CreateChannelInput } from './channel.input';
import { UpdateChannelInput } from './channel.input';
import { ChannelDeps, checkChange, checkCreate, checkUrl, createChannel, credentialsLeftBehind, originOf, updateChannel } from './channel.rules';
import { channelView } from './channel.view';

const NOW = new Date('2030-01-01T00:00:00.000Z');
const IDS = { id: 'ch_1', orgId: 'org_1', now: NOW };

/**
 * A stand-in for the secret box: records what it sealed, and answers an opaque `enc:v1:` token
 * that holds nothing of the clear value.
 */
function fakeDeps(signingSecret = 'whsec_c2lnbmluZy1zZWNyZXQtb2YtdGhlLWNoYW5uZWwtMDE=') {
  const sealed = new Map<string, string>();
  const deps: ChannelDeps = {
    seal: (secret) => {
      const token = `enc:v1:sealed-${sealed.size + 1}`;
      sealed.set(token, secret);
      return token;
    },
    newSigningSecret: () => signingSecret,
  };
  return { deps, sealed, clearValues: () => [...sealed.values()], tokens: () => [...sealed.keys()] };
}

const input = (body: Record<string, unknown>) => CreateChannelInput.parse({ name: 'Acme ERP', url: 'https://erp.acme.example/in', ...body });

/** Does `json` contain `secret`, as JSON would spell it? */
const contains = (json: string, secret: string) => json.includes(JSON.stringify(secret).slice(1, -1));

/** http(s) URLs of every shape (fc.webUrl is the same, but takes most of a second to build). */
const webUrls = fc
  .tuple(
    fc.constantFrom('http', 'https', 'HTTP', 'Https'),
    fc.webAuthority({ withPort: true, withIPv4: true, withIPv6: true }),
    fc.webPath(),
    fc.option(fc.webQueryParameters(), { nil: undefined }),
    fc.option(fc.webFragments(), { nil: undefined }),
  )
  .map(([scheme, authority, path, query, fragment]) => `${scheme}://${authority}${path}${query !== undefined ? `?${query}` : ''}${fragment !== undefined ? `#${fragment}` : ''}`);

describe('checkUrl', () => {
  const ok = (url: string | null | undefined, production = false, type: 'HTTP' | 'PULL' = 'HTTP') => checkUrl(type, url, production);

  it.each(['https://erp.acme.example/orderful', 'http://erp.acme.example:8080/in?x=1', 'HTTPS://ERP.ACME.EXAMPLE/'])('%s is a valid push URL', (url) => {
    expect(ok(url)).toEqual([]);
  });

  it.each(['ftp://erp.acme.example/in', 'file:///etc/passwd', 'javascript:alert(1)', 'ws://erp.acme.example/', 'data:text/plain,hi', 'gopher://x/'])(
    '%s is refused: http or https only',
    (url) => {
      expect(ok(url)).toEqual([{ path: 'body.url', message: expect.stringMatching(/http/) }]);
    },
  );

  it.each(['https://user:pass@erp.acme.example/in', 'https://user@erp.acme.example/in', 'http://:pass@erp.acme.example/'])(
    '%s is refused: no credentials in the URL',
    (url) => {
      expect(ok(url)).toEqual([{ path: 'body.url', message: expect.stringMatching(/credentials/) }]);
    },
  );

  it.each(['not a url', '/relative/path', 'erp.acme.example/in', ''])('%j is not a valid URL for a push channel', (url) => {
    expect(ok(url)).toHaveLength(1);
  });

  it('a push channel needs a url', () => {
    expect(ok(undefined)).toEqual([{ path: 'body.url', message: expect.any(String) }]);
    expect(ok(null)).toHaveLength(1);
  });

  it('in production only https is accepted', () => {
    expect(ok('http://erp.acme.example/in', true)).toEqual([{ path: 'body.url', message: expect.stringMatching(/https/) }]);
    expect(ok('https://erp.acme.example/in', true)).toEqual([]);
  });

  it('in production, credentials in an https URL are still refused', () => {
    expect(ok('https://user:pass@erp.acme.example/in', true)).toHaveLength(1);
  });

  it('a PULL channel has no url', () => {
    expect(ok(undefined, false, 'PULL')).toEqual([]);
    expect(ok(null, true, 'PULL')).toEqual([]);
    expect(ok('https://erp.acme.example/in', false, 'PULL')).toEqual([{ path: 'body.url', message: expect.stringMatching(/PULL/) }]);
  });

  it('any http(s) URL without credentials is accepted outside production; in production exactly the https ones', () => {
    fc.assert(
      fc.property(webUrls, (url) => {
        expect(checkUrl('HTTP', url, false)).toEqual([]);
        expect(checkUrl('HTTP', url, true).length === 0).toBe(/^https:/i.test(url));
      }),
    );
  });
});

describe('createChannel', () => {
  it('a channel of defaults: version 1, effective values, no signing secret', () => {
    const { deps } = fakeDeps();
    const { state, signingSecret } = createChannel(input({}), IDS, deps);
    expect(signingSecret).toBeNull();
    expect(state).toMatchObject({
      id: 'ch_1',
      orgId: 'org_1',
      version: 1,
      type: 'HTTP',
      url: 'https://erp.acme.example/in',
      format: 'JSON',
      auth: { type: 'NONE' },
      signing: { enabled: false, secrets: [] },
      enabled: true,
      timeoutMs: 30_000,
      retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30_000 },
      batch: null,
      createdAt: NOW.toISOString(),
      updatedAt: NOW.toISOString(),
    });
  });

  it('the state is a valid channel.upserted.v1 (what the registry publishes)', () => {
    const { deps } = fakeDeps();
    const { state } = createChannel(input({ auth: { type: 'BASIC', username: 'u', password: 'p' }, signing: { enabled: true } }), IDS, deps);
    expect(ChannelState.safeParse(state).success).toBe(true);
  });

  it.each([
    ['BASIC', { type: 'BASIC', username: 'waybill', password: 'hunter2-basic-password' }, ['hunter2-basic-password']],
    ['BEARER', { type: 'BEARER', token: 'bearer-token-0123456789' }, ['bearer-token-0123456789']],
    [
      'OAUTH2_CLIENT_CREDENTIALS',
      { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 'client-secret-0123456789' },
      ['client-secret-0123456789'],
    ],
  ])('%s: every credential and the signing secret are sealed; none is in the state in clear', (_, auth, credentials) => {
    const fake = fakeDeps();
    const { state, signingSecret } = createChannel(input({ auth, signing: { enabled: true } }), IDS, fake.deps);
    const json = JSON.stringify(state);
    expect(fake.clearValues().sort()).toEqual([...credentials, signingSecret!].sort());
    for (const secret of fake.clearValues()) expect(contains(json, secret)).toBe(false);
    for (const token of fake.tokens()) expect(contains(json, token)).toBe(true);
  });

  it('with signing on, the clear signing secret is returned once (for the 201) and the state keeps it sealed', () => {
    const fake = fakeDeps('whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX');
    const { state, signingSecret } = createChannel(input({ signing: { enabled: true } }), IDS, fake.deps);
    expect(signingSecret).toBe('whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX');
    expect(state.signing).toEqual({ enabled: true, secrets: [{ secret: 'enc:v1:sealed-1', createdAt: NOW.toISOString(), expiresAt: null }] });
  });

  it('a PULL channel keeps no url', () => {
    const { deps } = fakeDeps();
    expect(createChannel(input({ type: 'PULL', url: 'https://ignored.example/' }), IDS, deps).state.url).toBeNull();
  });

  it('for any credentials, none appears in clear in the state', () => {
    fc.assert(
      fc.property(secretChannels, ({ body }) => {
        const fake = fakeDeps();
        const { state } = createChannel(input(body), IDS, fake.deps);
        const json = JSON.stringify(state);
        for (const secret of fake.clearValues()) expect(contains(json, secret)).toBe(false);
      }),
    );
  });
});

/**
 * A secret nothing else in a channel could spell by chance: printable characters an HTTP header
 * can carry (what credentials accept).
 */
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const secret = fc.string({ minLength: 6, maxLength: 40, unit: printable }).map((s) => `S3CR3T:${s}`);
const secretChannels = fc
  .record({
    kind: fc.constantFrom('BASIC', 'BEARER', 'OAUTH2_CLIENT_CREDENTIALS', 'SECRET_HEADER'),
    secret,
    signing: fc.boolean(),
    signingSecret: fc.base64String({ minLength: 32, maxLength: 88 }).map((b) => `whsec_${b}`),
  })
  .map(({ kind, secret, signing, signingSecret }) => {
    if (kind === 'SECRET_HEADER') return { body: { secretHeaders: { 'X-API-Key': secret }, signing: { enabled: signing } }, secret, signingSecret };
    const auth =
      kind === 'BASIC'
        ? { type: kind, username: 'waybill', password: secret }
        : kind === 'BEARER'
          ? { type: kind, token: secret }
          : { type: kind, tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: secret };
    return { body: { auth, signing: { enabled: signing } }, secret, signingSecret };
  });

describe('channelView: what the API answers', () => {
  it('shows effective values and the auth without its credential', () => {
    const { deps } = fakeDeps();
    const { state } = createChannel(
      input({ auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 'cs', scope: 'tx:write' } }),
      IDS,
      deps,
    );
    expect(channelView(state)).toMatchObject({
      id: 'ch_1',
      name: 'Acme ERP',
      auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', scope: 'tx:write', audience: null },
      signing: { enabled: false },
      timeoutMs: 30_000,
    });
    expect(channelView(state).auth).not.toHaveProperty('clientSecret');
  });

  it.each([
    [{ type: 'BASIC', username: 'waybill', password: 'pw-123456' }, { type: 'BASIC', username: 'waybill' }],
    [{ type: 'BEARER', token: 'tok-123456' }, { type: 'BEARER' }],
    [{ type: 'NONE' }, { type: 'NONE' }],
  ])('auth %j is shown as %j', (auth, shown) => {
    const { deps } = fakeDeps();
    expect(channelView(createChannel(input({ auth }), IDS, deps).state).auth).toEqual(shown);
  });

  it('shows the signing secret only when handed it (the 201 of a create); otherwise only whether signing is on', () => {
    const { deps } = fakeDeps();
    const { state, signingSecret } = createChannel(input({ signing: { enabled: true } }), IDS, deps);
    expect(channelView(state, signingSecret).signing).toEqual({ enabled: true, secret: signingSecret });
    expect(channelView(state).signing).toEqual({ enabled: true });
  });

  it('for random credentials and signing secrets, the JSON of the view never contains a secret, clear or sealed', () => {
    fc.assert(
      fc.property(secretChannels, ({ body, signingSecret }) => {
        const fake = fakeDeps(signingSecret);
        const { state } = createChannel(input(body), IDS, fake.deps);
        const json = JSON.stringify(channelView(state));
        for (const s of [...fake.clearValues(), ...fake.tokens()]) expect(contains(json, s)).toBe(false);
      }),
    );
  });

  it('the view of a create shows the signing secret and no other secret', () => {
    fc.assert(
      fc.property(secretChannels, ({ body, secret, signingSecret }) => {
        const fake = fakeDeps(signingSecret);
        const { state, signingSecret: shown } = createChannel(input(body), IDS, fake.deps);
        const json = JSON.stringify(channelView(state, shown));
        expect(contains(json, secret)).toBe(false);
        for (const token of fake.tokens()) expect(contains(json, token)).toBe(false);
        expect(contains(json, signingSecret)).toBe(body.signing.enabled);
      }),
    );
  });
});

describe('updateChannel', () => {
  const LATER = new Date('2030-01-02T00:00:00.000Z');

  it('every change bumps the version and updatedAt, and keeps what it does not change', () => {
    const { deps } = fakeDeps();
    const { state } = createChannel(input({ timeoutMs: 5_000 }), IDS, deps);
    const { state: next } = updateChannel(state, { name: 'Renamed' }, LATER, deps);
    expect(next).toEqual({ ...state, name: 'Renamed', version: 2, updatedAt: LATER.toISOString() });
  });

  it('turning signing on issues a sealed secret once and returns it in clear', () => {
    const fake = fakeDeps();
    const { state } = createChannel(input({}), IDS, fake.deps);
    const { state: next, signingSecret } = updateChannel(state, { signing: { enabled: true } }, LATER, fake.deps);
    expect(signingSecret).toMatch(/^whsec_/);
    expect(next.signing.secrets).toHaveLength(1);
    expect(contains(JSON.stringify(next), signingSecret!)).toBe(false);
  });

  it('turning signing on again keeps the secret the channel already has', () => {
    const fake = fakeDeps();
    const { state } = createChannel(input({ signing: { enabled: true } }), IDS, fake.deps);
    const off = updateChannel(state, { signing: { enabled: false } }, LATER, fake.deps).state;
    const on = updateChannel(off, { signing: { enabled: true } }, LATER, fake.deps);
    expect(on.signingSecret).toBeNull();
    expect(on.state.signing.secrets).toEqual(state.signing.secrets);
  });

  it('new credentials are sealed', () => {
    const fake = fakeDeps();
    const { state } = createChannel(input({}), IDS, fake.deps);
    const { state: next } = updateChannel(state, { auth: { type: 'BEARER', token: 'new-token-0123' } }, LATER, fake.deps);
    expect(next.auth).toEqual({ type: 'BEARER', token: expect.stringMatching(/^enc:v1:/) });
    expect(contains(JSON.stringify(next), 'new-token-0123')).toBe(false);
  });

  it('a change to PULL drops the url', () => {
    const { deps } = fakeDeps();
    const { state } = createChannel(input({}), IDS, deps);
    expect(updateChannel(state, { type: 'PULL' }, LATER, deps).state.url).toBeNull();
  });
});

describe('secret headers', () => {
  const LATER = new Date('2030-01-02T00:00:00.000Z');

  it('are sealed in the state (what rests and travels on waybill.channels), shown by name only, never by value', () => {
    const fake = fakeDeps();
    const { state } = createChannel(input({ headers: { 'X-Partner': 'acme' }, secretHeaders: { 'X-API-Key': 'k3y-0123456789' } }), IDS, fake.deps);
    expect(state.secretHeaders).toEqual({ 'X-API-Key': expect.stringMatching(/^enc:v1:/) });
    expect(ChannelState.safeParse(state).success).toBe(true);
    expect(contains(JSON.stringify(state), 'k3y-0123456789')).toBe(false);
    const view = channelView(state);
    expect(view).toMatchObject({ headers: { 'X-Partner': 'acme' }, secretHeaders: ['X-API-Key'] });
    const json = JSON.stringify(view);
    expect(contains(json, 'k3y-0123456789')).toBe(false);
    expect(json).not.toContain('enc:v1:');
  });

  it('a change replaces them whole ({} drops them); a change without them keeps them', () => {
    const fake = fakeDeps();
    const { state } = createChannel(input({ secretHeaders: { 'X-API-Key': 'one', 'X-Other': 'two' } }), IDS, fake.deps);
    expect(updateChannel(state, { name: 'R' }, LATER, fake.deps).state.secretHeaders).toEqual(state.secretHeaders);
    const replaced = updateChannel(state, { secretHeaders: { 'X-API-Key': 'three' } }, LATER, fake.deps).state;
    expect(Object.keys(replaced.secretHeaders ?? {})).toEqual(['X-API-Key']);
    expect(fake.sealed.get(replaced.secretHeaders!['X-API-Key'])).toBe('three');
    expect(updateChannel(state, { secretHeaders: {} }, LATER, fake.deps).state.secretHeaders).toEqual({});
  });

  it('a name is a plain or a secret header, not both (ignoring case), at most 50 in all', () => {
    expect(checkCreate(input({ headers: { 'X-Key': 'a' }, secretHeaders: { 'x-key': 'b' } }), false)).toEqual([
      { path: 'body.secretHeaders.x-key', message: expect.stringMatching(/also a plain header/) },
    ]);
    const many = (prefix: string, n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}-${i}`, 'v']));
    expect(checkCreate(input({ headers: many('X-A', 30), secretHeaders: many('X-B', 21) }), false)).toEqual([
      { path: 'body.secretHeaders', message: expect.stringMatching(/at most 50/) },
    ]);
    const { state } = createChannel(input({ secretHeaders: { 'X-Key': 's' } }), IDS, fakeDeps().deps);
    expect(checkChange(state, { headers: { 'X-KEY': 'plain' } }, false)).toEqual([{ path: 'body.secretHeaders.X-Key', message: expect.any(String) }]);
    expect(checkChange(state, { headers: { 'X-KEY': 'plain' }, secretHeaders: {} }, false)).toEqual([]);
  });
});

describe('credentials stay with the destination they were given for', () => {
  const URL = 'https://erp.acme.example/in';
  const OTHER = 'https://evil.example/in';
  const OAUTH = { type: 'OAUTH2_CLIENT_CREDENTIALS' as const, tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 'cs' };
  const channelWith = (body: Record<string, unknown>) => createChannel(input({ url: URL, ...body }), IDS, fakeDeps().deps).state;
  const change = (body: Record<string, unknown>) => UpdateChannelInput.parse(body);

  it('originOf: scheme, host and port as the URL standard normalises them', () => {
    expect(originOf('https://ERP.acme.example:443/a?b')).toBe(originOf('https://erp.acme.example/c'));
    expect(originOf('http://erp.acme.example/a')).not.toBe(originOf('https://erp.acme.example/a'));
    expect(originOf('https://erp.acme.example:8443/a')).not.toBe(originOf('https://erp.acme.example/a'));
    expect(originOf(null)).toBeNull();
  });

  it.each([
    ['BASIC', { type: 'BASIC', username: 'u', password: 'p' }],
    ['BEARER', { type: 'BEARER', token: 't' }],
    ['OAUTH2', OAUTH],
  ])('%s: a url of another origin without auth is refused, naming auth', (_, auth) => {
    const state = channelWith({ auth });
    expect(credentialsLeftBehind(state, change({ url: OTHER }))).toEqual([{ path: 'body.auth', message: expect.stringMatching(/another origin/) }]);
  });

  it.each([
    ['another scheme', 'http://erp.acme.example/in'],
    ['another port', 'https://erp.acme.example:8443/in'],
    ['another host', 'https://erp2.acme.example/in'],
  ])('%s is another origin', (_, url) => {
    const state = channelWith({ auth: { type: 'BASIC', username: 'u', password: 'p' } });
    expect(credentialsLeftBehind(state, change({ url }))).toHaveLength(1);
  });

  it('auth of the same type without its credential does not count as given', () => {
    const state = channelWith({ auth: { type: 'BASIC', username: 'u', password: 'p' } });
    expect(credentialsLeftBehind(state, change({ url: OTHER, auth: { type: 'BASIC', username: 'u' } }))).toHaveLength(1);
  });

  it('a url of another origin with the credential given again, or with the credentials dropped, is accepted', () => {
    const state = channelWith({ auth: { type: 'BASIC', username: 'u', password: 'p' } });
    expect(credentialsLeftBehind(state, change({ url: OTHER, auth: { type: 'BASIC', username: 'u', password: 'p2' } }))).toEqual([]);
    expect(credentialsLeftBehind(state, change({ url: OTHER, auth: { type: 'NONE' } }))).toEqual([]);
    expect(credentialsLeftBehind(state, change({ url: OTHER, auth: { type: 'BEARER', token: 't' } }))).toEqual([]);
  });

  it('the same origin keeps the credentials (another path, query, or the same host spelt otherwise)', () => {
    const state = channelWith({ auth: { type: 'BASIC', username: 'u', password: 'p' }, secretHeaders: { 'X-API-Key': 'k' } });
    for (const url of ['https://erp.acme.example/other?x=1', 'https://ERP.acme.example:443/in']) {
      expect(credentialsLeftBehind(state, change({ url }))).toEqual([]);
    }
  });

  it('a channel without credentials may move freely', () => {
    expect(credentialsLeftBehind(channelWith({}), change({ url: OTHER }))).toEqual([]);
  });

  it('an OAuth2 tokenUrl changed without the clientSecret is refused, naming auth; with it, accepted', () => {
    const state = channelWith({ auth: OAUTH });
    const { clientSecret: _, ...withoutSecret } = OAUTH;
    expect(credentialsLeftBehind(state, change({ auth: { ...withoutSecret, tokenUrl: 'https://evil.example/token' } }))).toEqual([
      { path: 'body.auth', message: expect.stringMatching(/clientSecret/) },
    ]);
    expect(credentialsLeftBehind(state, change({ auth: { ...OAUTH, tokenUrl: 'https://evil.example/token' } }))).toEqual([]);
    expect(credentialsLeftBehind(state, change({ auth: { ...withoutSecret, scope: 'more' } }))).toEqual([]);
  });

  it('secret headers too: a url of another origin needs them again (or {} to drop them)', () => {
    const state = channelWith({ secretHeaders: { 'X-API-Key': 'k' } });
    expect(credentialsLeftBehind(state, change({ url: OTHER }))).toEqual([{ path: 'body.secretHeaders', message: expect.any(String) }]);
    expect(credentialsLeftBehind(state, change({ url: OTHER, secretHeaders: {} }))).toEqual([]);
    expect(credentialsLeftBehind(state, change({ url: OTHER, secretHeaders: { 'X-API-Key': 'k2' } }))).toEqual([]);
  });

  it('a PULL channel turned to HTTP takes its credentials to a destination they were not given for', () => {
    const state = createChannel(input({ type: 'PULL', url: undefined, auth: { type: 'BEARER', token: 't' } }), IDS, fakeDeps().deps).state;
    expect(credentialsLeftBehind(state, change({ type: 'HTTP', url: OTHER }))).toEqual([{ path: 'body.auth', message: expect.any(String) }]);
    expect(credentialsLeftBehind(channelWith({ auth: { type: 'BEARER', token: 't' } }), change({ type: 'PULL', url: null }))).toEqual([]);
  });

  it('property: whenever the origin changes and a credential exists, the change either carries it or is refused', () => {
    fc.assert(
      fc.property(webUrls, fc.boolean(), (url, resend) => {
        const state = channelWith({ auth: { type: 'BEARER', token: 't' } });
        const problems = credentialsLeftBehind(state, change({ url, ...(resend ? { auth: { type: 'BEARER', token: 'u' } } : {}) }));
        const moves = originOf(url) !== originOf(URL);
        expect(problems.length > 0).toBe(moves && !resend);
      }),
    );
  });
});
