import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { ApiClient, eventually, PartnerReceiver } from '@waybill/testing';
import { DispatcherHarness } from '../__fixtures__/dispatcher-harness';

/** A partner's identity provider: answers the client credentials grant, as scripted, and counts. */
class TokenServer {
  readonly requests: { authorization?: string; body: string }[] = [];
  /** What the next requests get: a token valid for `expiresIn` s, or a failure. */
  answer: { status: number; expiresIn?: number; delayMs?: number } = { status: 200, expiresIn: 3600 };
  private issued = 0;
  private server!: http.Server;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.requests.push({ authorization: req.headers.authorization, body });
        const { status, expiresIn, delayMs } = this.answer;
        setTimeout(() => {
          if (status !== 200) return res.writeHead(status).end('{"error":"server_error"}');
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `token-${++this.issued}`, token_type: 'Bearer', expires_in: expiresIn }));
        }, delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/oauth/token`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('dispatcher (Kafka): OAuth2 client credentials, and the channel endpoints', () => {
  let h: DispatcherHarness;
  let receiver: PartnerReceiver;
  let idp: TokenServer;
  let n = 0;
  const path = () => `/auth-${++n}`;
  const oauth = () => ({
    type: 'OAUTH2_CLIENT_CREDENTIALS' as const,
    tokenUrl: idp.url,
    clientId: 'waybill',
    clientSecret: h.encrypt('client-s3cret'),
    scope: 'transactions:write',
    audience: null,
  });

  beforeAll(async () => {
    receiver = await PartnerReceiver.start();
    idp = new TokenServer();
    await idp.start();
    h = await DispatcherHarness.start('kafka');
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
    await idp?.stop();
  });

  beforeEach(() => {
    idp.requests.length = 0;
    idp.answer = { status: 200, expiresIn: 3600 };
  });

  it('fetches a token with the client credentials, and reuses it until shortly before it expires', async () => {
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth(), maxConcurrency: 1 });
    for (let i = 0; i < 3; i++) {
      const [d] = await h.sendMany(channel, 1);
      await h.events.outcomes([d.transactionId]);
    }
    expect(idp.requests).toHaveLength(1);
    expect(idp.requests[0].authorization).toBe(`Basic ${Buffer.from('waybill:client-s3cret').toString('base64')}`);
    expect(new URLSearchParams(idp.requests[0].body).get('grant_type')).toBe('client_credentials');
    expect(new URLSearchParams(idp.requests[0].body).get('scope')).toBe('transactions:write');
    expect(receiver.requestsTo(hook).map((r) => r.headers.authorization)).toEqual(Array(3).fill('Bearer token-1'));
  });

  it('deliveries that need a token at the same moment share one fetch', async () => {
    idp.answer = { status: 200, expiresIn: 3600, delayMs: 300 };
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth(), maxConcurrency: 10 });
    const ds = await h.sendMany(channel, 10);
    await h.events.outcomes(ds.map((d) => d.transactionId));
    expect(idp.requests).toHaveLength(1);
    expect(new Set(receiver.requestsTo(hook).map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('a token that is about to expire is fetched again', async () => {
    idp.answer = { status: 200, expiresIn: 1 }; // renewed a tenth of its life before it ends
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth() });
    const deliverOne = async () => {
      const [d] = await h.sendMany(channel, 1);
      await h.events.outcomes([d.transactionId]);
      return idp.requests.length;
    };
    expect(await deliverOne()).toBe(1);
    // Deliveries go on with the first token until it nears its end; the next one brings a new token.
    await eventually(deliverOne, (fetched) => fetched >= 2, 10_000, 'a second token fetch');
    expect(idp.requests).toHaveLength(2);
    const used = receiver.requestsTo(hook).map((r) => r.headers.authorization);
    expect(new Set(used).size).toBe(2);
    expect(used.at(-1)).not.toBe(used[0]);
  });

  it('a 401 drops the token and the request is sent once more with a fresh one', async () => {
    const hook = path();
    receiver.script(hook, { status: 401 }, { status: 200 });
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth() });
    const [d] = await h.sendMany(channel, 1);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('ACCEPTED');
    const [first, second] = receiver.requestsTo(hook).map((r) => r.headers.authorization);
    expect(first).not.toBe(second);
    expect(idp.requests).toHaveLength(2);
    expect(h.events.of('delivery.attempted.v1', (a) => a.transactionId === d.transactionId)).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200 })]);
  });

  it('a second 401 with a fresh token fails the transaction (the credentials are wrong)', async () => {
    const hook = path();
    receiver.always(hook, { status: 401 });
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth() });
    const [d] = await h.sendMany(channel, 1);
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('FAILED');
    expect(receiver.requestsTo(hook)).toHaveLength(2);
  });

  it('a failing token endpoint is a retryable failure: the delivery is retried, and goes out once it answers', async () => {
    idp.answer = { status: 503 };
    const hook = path();
    const channel = await h.channel({ url: receiver.url(hook), auth: oauth(), retryPolicy: { strategy: 'fixed', maxRetries: 5, delayMs: 300 } });
    const [d] = await h.sendMany(channel, 1);
    const [attempt] = await h.events.waitForType('delivery.attempted.v1', 1, (a) => a.transactionId === d.transactionId);
    expect(attempt).toMatchObject({ outcome: 'RETRYABLE', statusCode: null, error: expect.stringMatching(/OAuth2: the token endpoint answered 503/) });
    expect(receiver.requestsTo(hook)).toHaveLength(0);
    idp.answer = { status: 200, expiresIn: 3600 };
    expect((await h.events.outcomes([d.transactionId]))[d.transactionId]).toBe('ACCEPTED');
  });

  describe('POST /v1/channels/{id}/test and GET /v1/channels/{id}/health', () => {
    it("sends one test delivery now, with the channel's auth, and says what the partner answered", async () => {
      const hook = path();
      receiver.script(hook, { status: 503 });
      const channel = await h.channel({ url: receiver.url(hook), auth: oauth() });
      const failing = await h.api.post(`/v1/channels/${channel.id}/test`);
      expect(failing.status).toBe(200);
      expect(failing.body).toEqual({ statusCode: 503, outcome: 'RETRYABLE', durationMs: expect.any(Number) });
      const ok = await h.api.post(`/v1/channels/${channel.id}/test`);
      expect(ok.body).toEqual({ statusCode: 200, outcome: 'ACCEPTED', durationMs: expect.any(Number) });
      const [req] = receiver.requestsTo(hook);
      expect(req.headers.authorization).toMatch(/^Bearer token-\d+$/);
      expect(idp.requests).toHaveLength(1);
      expect(JSON.parse(req.body)).toMatchObject({ stream: 'TEST', payload: { test: true } });
      // A test records nothing.
      expect(h.events.events.filter((e) => (e.data as { channelId?: string }).channelId === channel.id)).toEqual([]);
    });

    it('says why a test could not reach the partner', async () => {
      const channel = await h.channel({ url: 'http://127.0.0.1:9/nothing-listens-here' });
      const res = await h.api.post(`/v1/channels/${channel.id}/test`);
      expect(res.body).toMatchObject({ statusCode: null, outcome: 'RETRYABLE', error: expect.stringMatching(/ECONNREFUSED/) });
    });

    it("shows the channel's circuit, what is in flight and waiting, and its last outcomes", async () => {
      const hook = path();
      receiver.script(hook, { status: 500 }, { status: 200 });
      const channel = await h.channel({ url: receiver.url(hook), retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 100 } });
      const [d] = await h.sendMany(channel, 1);
      await h.events.outcomes([d.transactionId]);
      // The outcome's events are out a moment before the channel's health row records the end of
      // the attempt: wait for the health the channel settles in.
      const health = await eventually(
        () => h.api.get(`/v1/channels/${channel.id}/health`),
        (r) => r.status === 200 && r.body.inFlight === 0 && r.body.waiting === 0,
        10_000,
        'the channel settles',
      );
      expect(health.body).toMatchObject({ channelId: channel.id, circuit: 'CLOSED', inFlight: 0, waiting: 0 });
      expect(health.body.lastOutcomes.map((o: { outcome: string; statusCode: number }) => [o.outcome, o.statusCode])).toEqual([
        ['ACCEPTED', 200],
        ['RETRYABLE', 500],
      ]);
    });

    it("answers 404 for another organisation's channel, an unknown one, and 401 without a key", async () => {
      const channel = await h.channel({ url: receiver.url(path()) });
      const stranger = await h.stranger();
      for (const call of [() => stranger.get(`/v1/channels/${channel.id}/health`), () => stranger.post(`/v1/channels/${channel.id}/test`)]) {
        const res = await call();
        expect(res.status).toBe(404);
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      }
      expect((await h.api.get(`/v1/channels/ch_${randomBytes(8).toString('hex')}/health`)).status).toBe(404);
      expect((await new ApiClient(h.api.baseUrl).get(`/v1/channels/${channel.id}/health`)).status).toBe(401);
    });
  });
});
