import { ChannelRegistryModule, RegistryService } from '@waybill/channel-registry';
import { ApiClient } from '@waybill/testing';
import { Harness, startHarness } from './__fixtures__/harness';

jest.setTimeout(30_000);

/**
 * The registry as production runs it (`WAYBILL_ENV=production`: https only, no private targets)
 * and without an admin key. Only IP literals and local names are used: nothing is resolved
 * through DNS and nothing is connected to.
 */
describe('channel URLs in production', () => {
  let h: Harness;
  let api: ApiClient;

  beforeAll(async () => {
    h = await startHarness({ WAYBILL_ENV: 'production', WAYBILL_ADMIN_KEY: '' }, [ChannelRegistryModule]);
    const org = await h.service.app.get(RegistryService).createOrganization('Acme');
    api = new ApiClient(h.service.url, org.apiKey);
  });
  afterAll(() => h?.stop());

  it('answers 404 on the organisation endpoints without an admin key', async () => {
    expect((await h.anonymous.post('/v1/organizations', { name: 'X' })).status).toBe(404);
    expect((await api.post('/v1/organizations', { name: 'X' })).status).toBe(404);
  });

  it.each([
    ['http://93.184.215.14/hook', /https in production/],
    ['https://127.0.0.1/hook', /loopback/],
    ['https://2130706433/hook', /127\.0\.0\.1 is a loopback/],
    ['https://0x7f.1/hook', /loopback/],
    ['https://0177.0.0.1/hook', /loopback/],
    ['https://[::1]/hook', /loopback/],
    ['https://[::ffff:127.0.0.1]/hook', /IPv4-mapped form of 127\.0\.0\.1/],
    ['https://[64:ff9b::a9fe:a9fe]/latest', /NAT64 form of 169\.254\.169\.254/],
    ['https://169.254.169.254/latest/meta-data/', /link-local/],
    ['https://10.0.0.8/hook', /private/],
    ['https://172.16.1.1/hook', /private/],
    ['https://192.168.1.1/hook', /private/],
    ['https://100.64.0.1/hook', /carrier-grade NAT/],
    ['https://[fd00:ec2::254]/hook', /unique-local/],
    ['https://[fe80::1]/hook', /link-local/],
    ['https://0.0.0.0/hook', /unspecified/],
    ['https://localhost/hook', /local or metadata host name/],
    ['https://metadata.google.internal/computeMetadata/v1/', /local or metadata host name/],
  ])('refuses %s with 400 on body.url, and stores nothing', async (url, reason) => {
    const res = await api.post('/v1/channels', { name: 'Evil', url });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'body.url', message: expect.stringMatching(reason) }]);
    expect((await api.get('/v1/channels')).body.data).toEqual([]);
  });

  it('applies the same rules to an OAuth2 token URL and to a changed URL', async () => {
    const tokenUrl = await api.post('/v1/channels', {
      name: 'OAuth',
      url: 'https://93.184.215.14/hook',
      auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: 'https://169.254.169.254/token', clientId: 'c', clientSecret: 's' },
    });
    expect(tokenUrl.body.errors).toEqual([{ path: 'body.auth.tokenUrl', message: expect.stringMatching(/link-local/) }]);
    const ok = await api.post('/v1/channels', { name: 'Public', url: 'https://93.184.215.14/hook' });
    expect(ok.status).toBe(201);
    const changed = await api.patch(`/v1/channels/${ok.body.id}`, { url: 'https://[::ffff:10.0.0.1]/hook' });
    expect(changed.body.errors).toEqual([{ path: 'body.url', message: expect.stringMatching(/IPv4-mapped form of 10\.0\.0\.1/) }]);
    expect((await api.get(`/v1/channels/${ok.body.id}`)).body.url).toBe('https://93.184.215.14/hook');
  });
});
