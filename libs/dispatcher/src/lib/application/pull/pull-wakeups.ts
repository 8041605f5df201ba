import { Client } from 'pg';
import type { Logger } from 'pino';
import { delay, Signal } from '@waybill/messaging';

/** The notification channel a commit that queues pull messages notifies, with the channel id as payload. */
export const PULL_NOTIFY_CHANNEL = 'waybill_pull';

interface Waiter {
  signal: Signal;
  count: number;
}

/**
 * The long polls of PULL channels and what wakes them: a LISTEN connection of its own (a
 * notification names the channel whose messages were queued), reconnected when it drops — every
 * poll is woken then, since notifications may have been missed.
 */
export class PullWakeups {
  private listener: Client | null = null;
  private readonly waiters = new Map<string, Waiter>();
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
  ) {}

  start(): Promise<void> {
    return this.listen();
  }

  async stop(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.values()) w.signal.notify();
    await this.listener?.end().catch(() => undefined);
  }

  /** Long polls waiting now, across channels. */
  polling(): number {
    let n = 0;
    for (const w of this.waiters.values()) n += w.count;
    return n;
  }

  /** Runs `poll` as a long poll of the channel: `wait(ms)` resolves early when the channel is woken. */
  async waiting<T>(channelId: string, poll: (wait: (ms: number) => Promise<void>) => Promise<T>): Promise<T> {
    let w = this.waiters.get(channelId);
    if (!w) this.waiters.set(channelId, (w = { signal: new Signal(), count: 0 }));
    w.count++;
    const waiter = w;
    try {
      return await poll((ms) => waiter.signal.wait(ms).then(() => undefined));
    } finally {
      if (--waiter.count === 0) this.waiters.delete(channelId);
    }
  }

  /** Wakes the long polls of these channels (messages came back to their queues). */
  wake(channelIds: Iterable<string>): void {
    for (const c of channelIds) this.waiters.get(c)?.signal.notify();
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'waybill-dispatcher-pull' });
    client.on('notification', (n) => {
      if (n.payload) this.wake([n.payload]);
    });
    client.on('error', (err) => {
      if (this.closed) return;
      this.log.warn({ err }, 'pull queue: LISTEN connection lost; reconnecting (long polls recheck meanwhile)');
      this.listener = null;
      void this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${PULL_NOTIFY_CHANNEL}`);
    this.listener = client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.listen();
        this.wake(this.waiters.keys());
        return;
      } catch (err) {
        this.log.warn({ err }, 'pull queue: LISTEN reconnect failed');
        await delay(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }
}
