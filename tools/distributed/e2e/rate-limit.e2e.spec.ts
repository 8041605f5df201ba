import { randomBytes } from 'node:crypto';
import { ApiClient, distributedEnv, killStrayWaybillChildren, startServices, stopWaybill, WaybillProcess } from '@waybill/testing';

jest.setTimeout(120_000);

type App = 'channel-registry' | 'relationship-routing';

/**
 * One rate limit shared by separate processes: the registry and routing of the distributed mode,
 * on one database, each counting the calls it serves and reading the other's.
 */
describe('distributed: one rate limit per organisation across processes', () => {
  const LIMIT = 20;
  let procs: Record<App, WaybillProcess> | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = { ...(await distributedEnv()), WAYBILL_RATE_LIMIT: String(LIMIT) };
    procs = await startServices(env, ['channel-registry', 'relationship-routing']);
  });
  afterAll(async () => {
    if (procs) await Promise.all(Object.values(procs).map((p) => stopWaybill(p)));
    await killStrayWaybillChildren();
  });

  const organization = async (): Promise<string> => {
    const admin = new ApiClient((procs as Record<App, WaybillProcess>)['channel-registry'].baseUrl, env.WAYBILL_ADMIN_KEY);
    const org = await admin.post('/v1/organizations', { name: `Org ${randomBytes(3).toString('hex')}` });
    expect(org.status).toBe(201);
    return org.body.apiKey as string;
  };

  it('two services together admit about the limit, not twice it; another organisation is served throughout', async () => {
    const [busy, quiet] = [await organization(), await organization()];
    const { 'channel-registry': registry, 'relationship-routing': routing } = procs as Record<App, WaybillProcess>;
    const targets = [
      { busy: new ApiClient(registry.baseUrl, busy), quiet: new ApiClient(registry.baseUrl, quiet), path: '/v1/channels' },
      { busy: new ApiClient(routing.baseUrl, busy), quiet: new ApiClient(routing.baseUrl, quiet), path: '/v1/relationships' },
    ];
    // Both services know both keys before the clock starts.
    for (const t of targets) {
      expect((await t.quiet.get(t.path)).status).toBe(200);
    }

    // 25 calls a second to each service for 5 s: 250 in all, against a shared limit of 20/s.
    const PER_SERVICE_PER_S = 25;
    const SECONDS = 5;
    const busyAnswers: Array<Promise<{ service: number; status: number; retryAfter: unknown }>> = [];
    const quietAnswers: Array<Promise<number>> = [];
    const started = Date.now();
    await new Promise<void>((resolve) => {
      let ticks = 0;
      const timer = setInterval(() => {
        targets.forEach((t, service) => {
          busyAnswers.push(t.busy.get(t.path).then((r) => ({ service, status: r.status, retryAfter: r.headers['retry-after'] })));
          if (ticks % 5 === 0) quietAnswers.push(t.quiet.get(t.path).then((r) => r.status));
        });
        if (++ticks >= PER_SERVICE_PER_S * SECONDS) {
          clearInterval(timer);
          resolve();
        }
      }, 1000 / PER_SERVICE_PER_S);
    });
    const answers = await Promise.all(busyAnswers);
    const elapsedS = (Date.now() - started) / 1000;

    const admitted = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(admitted.length + limited.length).toBe(answers.length);
    // Each service refused some: each knew what the other admitted.
    expect(new Set(limited.map((a) => a.service))).toEqual(new Set([0, 1]));
    for (const a of limited) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    // Two limits of their own would have let 2 × 20/s through (~200); one shared: about 20/s.
    const perSecond = admitted.length / elapsedS;
    process.stderr.write(
      `rate limit ${LIMIT}/s shared by 2 processes: ${admitted.length} of ${answers.length} admitted in ${elapsedS.toFixed(1)} s ` +
        `(${perSecond.toFixed(1)}/s; registry ${admitted.filter((a) => a.service === 0).length}, routing ${admitted.filter((a) => a.service === 1).length})\n`,
    );
    expect(admitted.length).toBeLessThanOrEqual(1.5 * LIMIT * SECONDS);
    expect(admitted.length).toBeGreaterThanOrEqual(0.5 * LIMIT * SECONDS);
    expect(new Set(await Promise.all(quietAnswers))).toEqual(new Set([200]));
  });
});
