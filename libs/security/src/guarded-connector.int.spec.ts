import { Agent, request } from 'undici';
import { PartnerReceiver } from '@waybill/testing';
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
