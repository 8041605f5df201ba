import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { findFreePort } from '@waybill/persistence';
import type { ServiceName } from '@waybill/platform';
import { InstanceCounts, SERVICES } from './instances';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The dispatcher's heap ceiling (MB). Its live heap is about 100 MB with 10,000 active channels
 * (`npm run bench`, heap snapshot after the footprint phase), but under load V8 lets the heap grow
 * to several times what is live before it collects: with no ceiling its RSS reached 400–600 MB.
 * The ceiling makes it collect sooner. NODE_OPTIONS, when it sets one, wins.
 */
const DISPATCHER_HEAP_MB = 256;
/** A crashed instance is started again after this long (ms), on its port. */
const RESTART_AFTER_MS = 500;

/** One process of one service. */
export interface Instance {
  /** `dispatcher#2`. */
  id: string;
  service: ServiceName;
  port: number;
  url: string;
  child: ChildProcess;
  /** Times it was started (1 for the first). */
  starts: number;
}

export interface ClusterOptions {
  /** What every instance gets: KAFKA_BROKERS, DATABASE_URL, WAYBILL_SECRET_KEY, WAYBILL_ADMIN_KEY… */
  env: Record<string, string | undefined>;
  counts: InstanceCounts;
  /** The first instances' ports, in `SERVICES` order then instance order; more come from free ports. */
  ports: number[];
  /** Start an instance again when it dies without being told to stop (a supervisor). */
  restart: boolean;
  log: (line: string) => void;
  /** Told whenever a service's live set of instances changes (the edge follows it). */
  onChange?: (service: ServiceName, urls: string[]) => void;
  /** Told when an instance exits on its own and is not restarted. */
  onExit?: (instance: Instance, code: number | string) => void;
}

/**
 * The four services of the distributed mode, each as one or more processes on their own ports:
 * what `npm run start:distributed` and `npm run chaos` run. Instances can be added, killed and are
 * (optionally) started again when they die.
 */
export class Cluster {
  private readonly instances: Instance[] = [];
  private stopping = false;
  private started = 0;

  constructor(private readonly opts: ClusterOptions) {}

  /** Starts every instance and resolves once all answer `/health/ready`. */
  async start(): Promise<void> {
    let next = 0;
    const spawned: Instance[] = [];
    for (const service of SERVICES) {
      for (let i = 0; i < this.opts.counts[service]; i++) {
        const port = this.opts.ports[next++] ?? (await findFreePort());
        spawned.push(this.launch(service, port, `${service}#${i + 1}`));
      }
    }
    await Promise.all(spawned.map((i) => this.ready(i)));
    for (const service of SERVICES) this.changed(service);
  }

  /** Every instance, by service: their URLs. */
  urls(service: ServiceName): string[] {
    return this.instances.filter((i) => i.service === service).map((i) => i.url);
  }

  /** Every instance now. */
  get all(): readonly Instance[] {
    return this.instances;
  }

  /** Service processes started so far (restarts and additions counted). */
  get processesStarted(): number {
    return this.started;
  }

  /** One more instance of `service`, on a free port; resolves once it is ready. */
  async add(service: ServiceName): Promise<Instance> {
    const n = this.instances.filter((i) => i.service === service).length + 1;
    const instance = this.launch(service, await findFreePort(), `${service}#${n}`);
    await this.ready(instance);
    this.changed(service);
    return instance;
  }

  /** Sends `signal` to an instance (SIGKILL: a crash); the supervisor starts it again if told to. */
  kill(instance: Instance, signal: NodeJS.Signals = 'SIGKILL'): void {
    if (instance.child.exitCode === null && instance.child.signalCode === null) instance.child.kill(signal);
  }

  /** Resolves once `instance` (started again after a kill) answers `/health/ready`. */
  async readyAgain(instance: Instance, timeoutMs = 120_000): Promise<void> {
    await this.ready(instance, timeoutMs);
  }

  /** SIGTERM to every instance; resolves once all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.instances.map(
        (i) =>
          new Promise<void>((resolve) => {
            if (i.child.exitCode !== null || i.child.signalCode !== null) return resolve();
            i.child.once('exit', () => resolve());
            i.child.kill('SIGTERM');
          }),
      ),
    );
  }

  private launch(service: ServiceName, port: number, id: string): Instance {
    const instance: Instance = { id, service, port, url: `http://127.0.0.1:${port}`, child: this.spawnProcess(service, port), starts: 1 };
    this.instances.push(instance);
    this.watch(instance);
    return instance;
  }

  private spawnProcess(service: ServiceName, port: number): ChildProcess {
    this.started++;
    const flags = service === 'dispatcher' && !process.env.NODE_OPTIONS?.includes('--max-old-space-size') ? [`--max-old-space-size=${DISPATCHER_HEAP_MB}`] : [];
    return spawn(process.execPath, [...flags, '-r', '@swc-node/register', path.join(ROOT, 'apps', service, 'src', 'main.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...this.opts.env, PORT: String(port), WAYBILL_EXIT_WITH_PARENT: '1' },
      stdio: ['pipe', 'inherit', 'inherit'],
    });
  }

  private watch(instance: Instance): void {
    instance.child.once('exit', (code, signal) => {
      if (this.stopping) return;
      const how = code ?? signal ?? 'unknown';
      if (!this.opts.restart) {
        this.opts.onExit?.(instance, how);
        return;
      }
      this.opts.log(`${instance.id} exited (${how}); starting it again`);
      setTimeout(() => {
        if (this.stopping) return;
        instance.child = this.spawnProcess(instance.service, instance.port);
        instance.starts++;
        this.watch(instance);
      }, RESTART_AFTER_MS).unref();
    });
  }

  private changed(service: ServiceName): void {
    this.opts.onChange?.(service, this.urls(service));
  }

  private async ready(instance: Instance, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const child = instance.child;
      if (!this.opts.restart && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(`${instance.id} exited before it was ready (${child.exitCode ?? child.signalCode})`);
      }
      try {
        const res = await request(`${instance.url}/health/ready`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${instance.id} not ready after ${timeoutMs} ms`);
  }
}
