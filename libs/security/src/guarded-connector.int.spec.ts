import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import { ConnectProxy, localhostTls, PartnerReceiver } from '@waybill/testing';
import { checkHost, guardedConnector, guardedLookup } from './index';

/**
 * The guard at connect time, over real sockets and the system resolver: only loopback is ever
 * connected to (the receiver), and a refusal happens before any byte is sent.
 */
describe('SSRF guard at connect time', () => {
  let receiver: PartnerReceiver;
  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
  });
  afterAll(() => receiver.stop());

  const post = (agent: Agent, url: string) => request(url, { method: 'POST', body: '{}', dispatcher: agent });

  it.each(['127.0.0.1', '2130706433', '0x7f.1', '[::ffff:127.0.0.1]', 'localhost'])('refuses the host %s before connecting; the receiver gets nothing', async (host) => {
    const port = new URL(receiver.url()).port;
    const agent = new Agent({ connect: guardedConnector(false, { timeout: 2_000 }) });
    await expect(post(agent, `http://${host}:${port}/hook`)).rejects.toMatchObject({ code: 'EDESTINATIONREFUSED' });
    await agent.close();
    expect(receiver.requests).toHaveLength(0);
  });

  it('connects as usual where private targets are allowed', async () => {
    const agent = new Agent({ connect: guardedConnector(true, { timeout: 2_000 }) });
    const res = await post(agent, receiver.url('/allowed'));
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    await agent.close();
    expect(receiver.requestsTo('/allowed')).toHaveLength(1);
  });

  it('refuses a name that resolves to loopback through the system resolver (/etc/hosts)', async () => {
    // "localhost" is refused by name; the lookup refuses what it resolves to as well.
    await expect(checkHost('localhost', false)).resolves.toMatch(/local or metadata host name/);
    const lookup = guardedLookup(false);
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => lookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err).toMatchObject({ code: 'EDESTINATIONREFUSED' });
    const allowed = await new Promise<unknown>((resolve) => guardedLookup(true)('localhost', {}, (_e, address) => resolve(address)));
    expect(allowed).toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

/**
 * Egress through a real CONNECT proxy (written in libs/testing) and from a chosen source address,
 * over real sockets on loopback: the target is resolved and checked here, the proxy is asked for
 * the checked IP address only, and a refused target never reaches the proxy.
 */
describe('egress proxy and source address', () => {
  let receiver: PartnerReceiver;
  let proxy: ConnectProxy;
  beforeAll(async () => {
    receiver = await PartnerReceiver.start('127.0.0.2');
    proxy = await ConnectProxy.start();
  });
  afterAll(async () => {
    await receiver.stop();
    await proxy.stop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    proxy.connects.length = 0;
  });

  const post = async (agent: Agent, url: string) => {
    const res = await request(url, { method: 'POST', body: '{}', dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  };

  it('with private targets allowed only for the receiver’s address, a request reaches it through the proxy, which was asked for its IP address', async () => {
    const agent = new Agent({ connect: guardedConnector(['127.0.0.2/32'], { timeout: 2_000 }, { proxy: proxy.url() }) });
    expect(await post(agent, receiver.url('/through'))).toBe(200);
    await agent.close();
    expect(proxy.connects.map((c) => c.authority)).toEqual([`127.0.0.2:${receiver.listeningPort}`]);
    expect(receiver.requestsTo('/through')).toHaveLength(1);
    expect(receiver.requestsTo('/through')[0].headers.host).toBe(`127.0.0.2:${receiver.listeningPort}`);
  });

  it.each(['127.0.0.1', '2130706433', '0x7f.1', '[::ffff:127.0.0.2]', '[::ffff:7f00:2]', '[::1]', 'localhost', '10.0.0.1', '169.254.169.254', '[64:ff9b::7f00:2]'])(
    'another loopback or private target, disguised as %s, is refused before the proxy is asked',
    async (host) => {
      const agent = new Agent({ connect: guardedConnector(['127.0.0.2/32'], { timeout: 2_000 }, { proxy: proxy.url() }) });
      await expect(post(agent, `http://${host}:${receiver.listeningPort}/evil`)).rejects.toMatchObject({ code: 'EDESTINATIONREFUSED' });
      await agent.close();
      expect(proxy.connects).toEqual([]);
      expect(receiver.requests).toEqual([]);
    },
  );

  it('a name is resolved here: the proxy is asked for the address, the partner still sees the name as Host', async () => {
    const agent = new Agent({ connect: guardedConnector(true, { timeout: 2_000 }, { proxy: proxy.url('egress:pa%24s') }) });
    const local = await PartnerReceiver.start();
    try {
      expect(await post(agent, `http://localhost:${local.listeningPort}/named`)).toBe(200);
      expect(proxy.connects).toEqual([
        { authority: `127.0.0.1:${local.listeningPort}`, proxyAuthorization: `Basic ${Buffer.from('egress:pa$s').toString('base64')}`, from: '127.0.0.1' },
      ]);
      expect(local.requestsTo('/named')[0].headers.host).toBe(`localhost:${local.listeningPort}`);
    } finally {
      await agent.close();
      await local.stop();
    }
  });

  it('TLS runs through the tunnel for the name of the URL (SNI and the certificate checked against it)', async () => {
    const tlsFiles = localhostTls();
    let servername: string | undefined;
    const server = https.createServer({ ...tlsFiles }, (req, res) => {
      servername = (req.socket as TLSSocket).servername || undefined;
      res.end('secure');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const agent = new Agent({ connect: guardedConnector(true, { timeout: 2_000, ca: tlsFiles.cert } as buildConnector.BuildOptions, { proxy: proxy.url() }) });
    try {
      expect(await post(agent, `https://localhost:${port}/tls`)).toBe(200);
      expect(servername).toBe('localhost');
      expect(proxy.connects.map((c) => c.authority)).toEqual([`127.0.0.1:${port}`]);
    } finally {
      await agent.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a source address binds every socket: to the partner without a proxy, to the proxy with one', async () => {
    const direct = new Agent({ connect: guardedConnector(true, { timeout: 2_000 }, { sourceAddress: '127.0.0.3' }) });
    expect(await post(direct, receiver.url('/direct'))).toBe(200);
    await direct.close();
    expect(receiver.requestsTo('/direct')[0].remoteAddress).toBe('127.0.0.3');

    const proxied = new Agent({ connect: guardedConnector(true, { timeout: 2_000 }, { proxy: proxy.url(), sourceAddress: '127.0.0.3' }) });
    expect(await post(proxied, receiver.url('/proxied'))).toBe(200);
    await proxied.close();
    expect(proxy.connects.map((c) => c.from)).toEqual(['127.0.0.3']);
  });
});
