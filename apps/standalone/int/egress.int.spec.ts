import { ApiClient, ConnectProxy, PartnerReceiver } from '@waybill/testing';
import { channelWithRelationship, send, startWaybillInProcess, statusOf, Waybill } from './__fixtures__/waybill';

jest.setTimeout(120_000);

/**
 * Egress that partners can allowlist, with every part real: Waybill's four services in one
 * process, a CONNECT proxy (libs/testing) and a partner receiver on loopback. The proxy's own
 * connections leave from 127.0.0.9, so the receiver can tell what came through it.
 */
describe('egress through WAYBILL_EGRESS_PROXY', () => {
  let w: Waybill;
  let api: ApiClient;
  let receiver: PartnerReceiver;
  let proxy: ConnectProxy;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    proxy = await ConnectProxy.start({ upstreamAddress: '127.0.0.9' });
    w = await startWaybillInProcess({
      WAYBILL_EGRESS_PROXY: proxy.url(),
      WAYBILL_EGRESS_RANGES: '203.0.113.0/24,2001:db8:7::/48',
      // Private targets are allowed only for the receiver's own address.
      WAYBILL_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32',
    });
    ({ api } = await w.organization('Acme'));
  });
  afterAll(async () => {
    await w?.stop();
    await proxy?.stop();
    await receiver?.stop();
  });

  it('publishes the ranges partners allowlist, and that a proxy is used, to callers with a key', async () => {
    expect(await api.get('/v1/egress')).toMatchObject({ status: 200, body: { ranges: ['203.0.113.0/24', '2001:db8:7::/48'], proxy: true } });
    expect((await w.anonymous.get('/v1/egress')).status).toBe(401);
  });

  it('every partner request goes through the proxy: deliveries, test deliveries, OAuth2 token requests and alerts', async () => {
    receiver.always('/token', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: 'tok-1', expires_in: 3600 }) });
    receiver.always('/failing', { status: 500 });
    const alerts = await api.post('/v1/channels', { name: 'Alerts', url: receiver.url('/alerts') });
    expect((await api.put('/v1/settings/alert-channel', { channelId: alerts.body.id })).status).toBe(200);

    const oauth = await channelWithRelationship(api, receiver.url('/oauth-hook'), {
      auth: { type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: receiver.url('/token'), clientId: 'waybill', clientSecret: 'cs' },
    });
    const tx = await send(api, oauth.relationshipId);
    await statusOf(api, tx, 'ACCEPTED');
    expect((await api.post(`/v1/channels/${oauth.channelId}/test`)).body).toMatchObject({ statusCode: 200 });

    const failing = await channelWithRelationship(api, receiver.url('/failing'), { retryPolicy: { strategy: 'fixed', maxRetries: 0, delayMs: 100 } });
    const lost = await send(api, failing.relationshipId);
    await statusOf(api, lost, 'FAILED');
    await receiver.waitFor(1, (r) => r.path === '/alerts' && JSON.parse(r.body).type === 'delivery.exhausted.v1');

    const seen = new Set(receiver.requests.map((r) => r.path));
    expect([...seen].sort()).toEqual(['/alerts', '/failing', '/oauth-hook', '/token']);
    expect(receiver.requests.filter((r) => r.path === '/oauth-hook').map((r) => r.headers['waybill-transaction-id'])).toEqual([tx, expect.stringMatching(/^test_/)]);
    // Every request reached the partner from the proxy's address, and the proxy was only ever
    // asked for the checked IP address, never a name; the Host header is the URL's own.
    expect(receiver.requests.map((r) => r.remoteAddress)).toEqual(receiver.requests.map(() => '127.0.0.9'));
    expect(new Set(proxy.connects.map((c) => c.authority))).toEqual(new Set([`127.0.0.1:${receiver.listeningPort}`]));
    expect(new Set(receiver.requests.map((r) => r.headers.host))).toEqual(new Set([`127.0.0.1:${receiver.listeningPort}`]));
  });

  it('with private targets allowed only for the receiver’s address, another loopback address in disguise is refused', async () => {
    // 2130706434 and 0x7f.2 are 127.0.0.2; the IPv4-mapped form of the allowed address is not it.
    for (const host of ['127.0.0.2', '2130706434', '0x7f.2', '[::ffff:127.0.0.1]', '[::1]', 'localhost', '10.0.0.1']) {
      const res = await api.post('/v1/channels', { name: 'Elsewhere', url: `http://${host}:${receiver.listeningPort}/x` });
      expect({ host, status: res.status, errors: res.body.errors }).toEqual({ host, status: 400, errors: [{ path: 'body.url', message: expect.stringMatching(/refused/) }] });
    }
  });
});

describe('egress from WAYBILL_EGRESS_SOURCE_ADDRESS', () => {
  let w: Waybill;
  let api: ApiClient;
  let receiver: PartnerReceiver;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    w = await startWaybillInProcess({ WAYBILL_EGRESS_SOURCE_ADDRESS: '127.0.0.2' });
    ({ api } = await w.organization('Acme'));
  });
  afterAll(async () => {
    await w?.stop();
    await receiver?.stop();
  });

  it('binds partner sockets to the source address: the partner sees the request come from it', async () => {
    const { relationshipId } = await channelWithRelationship(api, receiver.url('/bound'));
    await send(api, relationshipId);
    const [got] = await receiver.waitFor(1, (r) => r.path === '/bound');
    expect(got.remoteAddress).toBe('127.0.0.2');
    expect((await api.get('/v1/egress')).body).toEqual({ ranges: [], proxy: false });
  });
});
