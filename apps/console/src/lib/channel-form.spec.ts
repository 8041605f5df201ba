import { channelRequest, emptyForm, formOf, parseHeaders, validateChannelForm } from './channel-form';

const paths = (errors: { path: string }[]) => errors.map((e) => e.path);

describe('the Create Channel form: the API’s rules, on the API’s paths', () => {
  it('an empty HTTP form asks for a name and a URL', () => {
    expect(paths(validateChannelForm(emptyForm('HTTP')))).toEqual(['body.name', 'body.url']);
  });

  it('a URL must be absolute http(s) without credentials', () => {
    const f = { ...emptyForm('HTTP'), name: 'Acme' };
    expect(validateChannelForm({ ...f, url: 'ftp://acme.example/x' })).toEqual([{ path: 'body.url', message: 'must be http or https' }]);
    expect(validateChannelForm({ ...f, url: 'https://u:p@acme.example/x' })).toEqual([{ path: 'body.url', message: 'must not contain credentials' }]);
    expect(validateChannelForm({ ...f, url: 'not a url' })).toEqual([{ path: 'body.url', message: 'not a valid URL' }]);
    expect(validateChannelForm({ ...f, url: 'https://acme.example/in' })).toEqual([]);
  });

  it('each auth type asks for its own fields; a Basic username may not hold ":"', () => {
    const f = { ...emptyForm('HTTP'), name: 'Acme', url: 'https://acme.example/in' };
    expect(paths(validateChannelForm({ ...f, authType: 'BASIC', username: 'a:b' }))).toEqual(['body.auth.username', 'body.auth.password']);
    expect(paths(validateChannelForm({ ...f, authType: 'BEARER' }))).toEqual(['body.auth.token']);
    expect(paths(validateChannelForm({ ...f, authType: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'x' }))).toEqual([
      'body.auth.tokenUrl',
      'body.auth.clientId',
      'body.auth.clientSecret',
    ]);
  });

  it('when editing, a credential left empty is kept (same auth type), but a new auth type needs one', () => {
    const f = { ...emptyForm('HTTP'), name: 'Acme', url: 'https://acme.example/in', authType: 'BASIC' as const, username: 'acme' };
    expect(validateChannelForm(f, true, 'BASIC')).toEqual([]);
    expect(paths(validateChannelForm(f, true, 'NONE'))).toEqual(['body.auth.password']);
    expect(channelRequest(f, true).auth).toEqual({ type: 'BASIC', username: 'acme' });
  });

  it('numbers keep to the API’s ranges', () => {
    const f = { ...emptyForm('HTTP'), name: 'Acme', url: 'https://acme.example/in' };
    expect(paths(validateChannelForm({ ...f, timeoutMs: '99', maxRetries: '21', delayMs: '1.5', batchEnabled: true, batchMaxItems: '51' }))).toEqual([
      'body.timeoutMs',
      'body.retryPolicy.maxRetries',
      'body.retryPolicy.delayMs',
      'body.batch.maxItems',
    ]);
    expect(paths(validateChannelForm({ ...f, strategy: 'exponential', factor: '11' }))).toEqual(['body.retryPolicy.factor']);
  });

  it('static headers are "Name: value" lines, never one Waybill sets', () => {
    expect(parseHeaders('X-Partner: acme\n\nX-Env: test')).toEqual({ headers: { 'X-Partner': 'acme', 'X-Env': 'test' }, problem: null });
    expect(parseHeaders('Authorization: Basic x').problem).toMatch(/set by Waybill/);
    expect(parseHeaders('Waybill-Attempt: 2').problem).toMatch(/set by Waybill/);
    expect(parseHeaders('x-a: 1\nX-A: 2').problem).toMatch(/twice/);
    expect(parseHeaders('no colon').problem).toMatch(/Name: value/);
  });

  it('makes the API’s request: OAuth2 with its optional fields null when empty; a Pull channel without URL', () => {
    const f = {
      ...emptyForm('HTTP'),
      name: ' Acme ',
      url: 'https://acme.example/in',
      authType: 'OAUTH2_CLIENT_CREDENTIALS' as const,
      tokenUrl: 'https://idp.acme.example/token',
      clientId: 'waybill',
      clientSecret: 's3cret',
    };
    expect(channelRequest(f)).toEqual({
      type: 'HTTP',
      name: 'Acme',
      url: 'https://acme.example/in',
      format: 'JSON',
      auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://idp.acme.example/token', clientId: 'waybill', clientSecret: 's3cret', scope: null, audience: null },
      timeoutMs: 30000,
      retryPolicy: { strategy: 'fixed', maxRetries: 3, delayMs: 30000 },
      batch: null,
      maxConcurrency: 10,
      signing: { enabled: false },
      headers: {},
    });
    const pull = channelRequest({ ...emptyForm('PULL'), name: 'Store queue' });
    expect(pull).toMatchObject({ type: 'PULL', name: 'Store queue', visibilityTimeoutMs: 60000 });
    expect(pull).not.toHaveProperty('url');
  });

  it('an existing channel fills the form without any credential', () => {
    const f = formOf({
      type: 'HTTP',
      name: 'Acme',
      url: 'https://acme.example/in',
      format: 'XML',
      auth: { type: 'BASIC', username: 'acme' },
      timeoutMs: 5000,
      retryPolicy: { strategy: 'fixed', maxRetries: 1, delayMs: 200 },
      batch: { maxItems: 5, maxWaitMs: 100 },
      maxConcurrency: 3,
      visibilityTimeoutMs: 60000,
      signing: { enabled: true },
      headers: { 'X-Partner': 'acme' },
    });
    expect(f).toMatchObject({ format: 'XML', authType: 'BASIC', username: 'acme', password: '', batchEnabled: true, headers: 'X-Partner: acme' });
  });
});
