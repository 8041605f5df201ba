import { Agent, request } from 'undici';

/** How often each instance's `/health/live` is asked (ms), and how long an answer may take. */
export const HEALTH_EVERY_MS = 250;
const HEALTH_TIMEOUT_MS = 750;

/**
 * The instances of one service behind the edge: requests go round-robin to those that answer
 * their health check; one that stops answering (or refuses a connection) is taken out at once and
 * put back when it answers again — within `HEALTH_EVERY_MS` of either.
 */
export class UpstreamPool {
  private urls: string[];
  private readonly down = new Set<string>();
  private next = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    urls: readonly string[],
    private readonly agent: Agent,
  ) {
    this.urls = [...urls];
  }

  /** The instances now (an instance added or removed while running: `npm run chaos`, a scale-out). */
  set(urls: readonly string[]): void {
    this.urls = [...urls];
    for (const u of [...this.down]) if (!this.urls.includes(u)) this.down.delete(u);
  }

  get all(): readonly string[] {
    return this.urls;
  }

  /** The next live instance after `except` (those a request already failed to reach), or any if none is known to be live. */
  pick(except: ReadonlySet<string> = new Set()): string | undefined {
    const live = this.urls.filter((u) => !this.down.has(u) && !except.has(u));
    const from = live.length > 0 ? live : this.urls.filter((u) => !except.has(u));
    if (from.length === 0) return undefined;
    this.next = (this.next + 1) % from.length;
    return from[this.next];
  }

  /** A connection to `url` was refused: out of rotation until its health check answers again. */
  markDown(url: string): void {
    this.down.add(url);
  }

  startChecking(): void {
    this.timer ??= setInterval(() => void this.check(), HEALTH_EVERY_MS).unref();
  }

  stopChecking(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    await Promise.all(
      this.urls.map(async (url) => {
        try {
          const res = await request(`${url}/health/live`, { dispatcher: this.agent, headersTimeout: HEALTH_TIMEOUT_MS, bodyTimeout: HEALTH_TIMEOUT_MS });
          await res.body.dump();
          if (res.statusCode === 200) this.down.delete(url);
          else this.down.add(url);
        } catch {
          this.down.add(url);
        }
      }),
    );
  }
}
