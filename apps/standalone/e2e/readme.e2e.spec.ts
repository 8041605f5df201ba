import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiClient, eventually, freePort, newDataDir, PartnerReceiver, startWaybill, stopWaybill, waitForStatus, WaybillProcess } from '@waybill/testing';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '../../..');

/**
 * The README's "Try it", as a new user runs it after `npm start`: its shell commands, unchanged
 * but for the key, the port and the partner's address, through real curl.
 */
describe('README: Try it', () => {
  let receiver: PartnerReceiver;
  let waybill: WaybillProcess | undefined;

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    const dataDir = await newDataDir('waybill-readme-');
    waybill = await startWaybill('standalone', { PORT: String(await freePort()), WAYBILL_DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await stopWaybill(waybill);
    await receiver?.stop();
  });

  it('creates a Basic-auth channel, makes it the default, relates by default and delivers with the right Authorization', async () => {
    // The first run prints its key once it serves, which may be just after /health/ready answers.
    const printed = await eventually(async () => waybill!.output(), (out) => /wb_[A-Za-z0-9_-]{20,}/.test(out), 10_000, 'the first key printed');
    const key = /wb_[A-Za-z0-9_-]{20,}/.exec(printed)?.[0];
    expect(key).toBeDefined();
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Try it'), readme.indexOf('\n## ', readme.indexOf('## Try it') + 1));
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
    const script = blocks[blocks.length - 1]
      .replace(/^KEY=wb_\.\.\..*$/m, `KEY=${key}`)
      .replaceAll('http://127.0.0.1:3000', waybill!.baseUrl)
      .replaceAll('http://127.0.0.1:4000/orders', receiver.url('/orders'));
    expect(script).toContain(receiver.url('/orders'));

    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, timeout: 60_000 });
    const answers = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(answers[0]).toMatchObject({ defaultInboundChannelId: expect.stringMatching(/^ch_/) });
    expect(answers[1]).toMatchObject({ senderId: 'ACME', channelId: answers[0].defaultInboundChannelId, channelSource: 'DEFAULT' });
    expect(answers[2]).toMatchObject({ id: expect.stringMatching(/^tx_/), status: expect.stringMatching(/PENDING|SENDING|ACCEPTED/) });

    const [delivered] = await receiver.waitFor(1, (r) => r.path === '/orders');
    expect(delivered.headers.authorization).toBe('Basic YWNtZTpzM2NyZXQ=');
    expect(JSON.parse(delivered.body)).toMatchObject({ id: answers[2].id, payload: { purchaseOrderNumber: 'PO-1' } });
    await waitForStatus(new ApiClient(waybill!.baseUrl, key), answers[2].id, 'ACCEPTED');
  });

  it('describes every endpoint at /openapi.json and serves the docs page at /docs', async () => {
    const api = new ApiClient(waybill!.baseUrl);
    const doc = (await api.get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/organizations', '/v1/api-keys', '/v1/api-keys/{id}', '/v1/channels', '/v1/channels/{id}', '/v1/channels/{id}/signing-secret',
        '/v1/channels/{id}/signing-secret/rotate', '/v1/settings', '/v1/settings/default-inbound-channel', '/v1/settings/alert-channel',
        '/v1/relationships', '/v1/relationships/{id}', '/v1/transactions', '/v1/transactions/batch', '/v1/transactions/{id}',
      ]),
    );
    expect(doc.paths['/v1/channels'].post.requestBody.content['application/json'].schema.properties.retryPolicy).toBeDefined();
    expect(doc.paths['/v1/channels/{id}'].delete.responses['409']).toEqual({ $ref: '#/components/responses/Problem409' });
    const page = await api.get('/docs');
    expect(page.headers['content-type']).toContain('text/html');
    for (const asset of ['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/init.js']) expect((await api.get(asset)).status).toBe(200);
    expect((await api.get('/docs/../package.json')).status).toBe(404);
  });
});
