import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { openServiceDataSource } from '@waybill/persistence';
import type { TopicSpec } from '@waybill/contracts';
import type { IncomingMessage, MessageTransport, Outbox, OutgoingMessage, Subscription, SubscriptionSpec } from '../transport.port';
import { partitionOf } from '../partitioner';
import { Log, silentLog } from '../logger';
import { delay, Signal } from '../wait';
import { CreateEmbeddedLog1732370000000 } from './embedded-log.migrations';

const CHANNEL = 'waybill_log';
const SCHEMA = 'messaging';
/** The application name of every instance's LISTEN connection: how instances find one another. */
const LISTENER_NAME = 'waybill-messaging-listen';
/** How often an instance looks again for others on its database (ms). */
const PEERS_CHECK_MS = 5_000;
/** Without a notification (a lost LISTEN connection, say) a reader still looks this often. */
const IDLE_RECHECK_MS = 5_000;

export interface EmbeddedTransportOptions {
  /** `postgres://` URL: the log lives in its `messaging` schema, beside the services' schemas. */
  url: string;
  partitions?: number;
  batchSize?: number;
  log?: Log;
}

/**
 * The embedded transport: a durable log in Postgres. Appends happen inside the caller's database
 * transaction, so in this mode the outbox *is* the log. Readers see appends in commit order (see
 * the migration) and keep a checkpoint per group and topic.
 *
 * Waking readers: after a commit, `flush` wakes this instance's readers of the topics written at
 * once, in process, and tells other instances on the same database with a NOTIFY sent on its own,
 * outside the writer's transaction. Never a NOTIFY inside the writer's transaction: PostgreSQL
 * serialises the commits of every notifying transaction of the database (a global lock held
 * through the commit's WAL flush), which made concurrent single calls wait on each other's fsync.
 */
export class EmbeddedTransport implements MessageTransport {
  readonly kind = 'embedded' as const;
  private readonly readers = new Set<LogReader>();
  private listener: Client | null = null;
  private closed = false;
  /** Names this instance in its NOTIFY payloads, so that it ignores its own. */
  private readonly instance = randomUUID();
  /** Topics to announce to other instances, sent by one NOTIFY statement at a time. */
  private readonly toAnnounce = new Set<string>();
  private announcing: Promise<void> | null = null;
  /**
   * Whether another instance listens on this database (its readers need telling). Most often none
   * does: the standalone app is one process, and a NOTIFY per commit would be its most frequent
   * statement. Set by another instance's hello, checked again every `PEERS_CHECK_MS`.
   */
  private peers = false;
  private peersTimer: NodeJS.Timeout | null = null;
  /** The backend of this instance's LISTEN connection (not a peer). */
  private listenerPid: number | null = null;

  private constructor(
    private readonly ds: DataSource,
    private readonly opts: Required<Pick<EmbeddedTransportOptions, 'url' | 'partitions' | 'batchSize'>> & { log: Log },
  ) {}

  get partitions(): number {
    return this.opts.partitions;
  }

  static async open(options: EmbeddedTransportOptions): Promise<EmbeddedTransport> {
    const ds = await openServiceDataSource({
      url: options.url,
      schema: SCHEMA,
      migrations: [CreateEmbeddedLog1732370000000],
      poolSize: 6,
      applicationName: 'waybill-messaging',
    });
    const transport = new EmbeddedTransport(ds, {
      url: options.url,
      partitions: options.partitions ?? 12,
      batchSize: options.batchSize ?? 500,
      log: options.log ?? silentLog,
    });
    await transport.listen();
    return transport;
  }

  async ensureTopics(_specs: readonly TopicSpec[]): Promise<void> {
    // Topics of the embedded log are rows' labels: nothing to create.
  }

  outbox(_schema: string): Outbox {
    return {
      append: (em, messages) => this.append(em, messages),
      // Committed is published (the log is the outbox): only the readers need waking.
      flush: async (_timeoutMs, topics) => this.committed(topics),
    };
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // One statement is its own transaction: no BEGIN and COMMIT round trips around it.
    await this.append(this.ds.manager, messages);
    this.committed(messages.map((m) => m.topic));
  }

  /** After a commit that wrote `topics` (every topic when unknown): wakes their readers, here and in other instances. */
  private committed(topics: Iterable<string> | undefined): void {
    const written = topics ? new Set(topics) : null;
    for (const r of this.readers) if (!written || written.has(r.topic)) r.wake();
    if (!this.peers) return;
    for (const t of written ?? ['*']) this.toAnnounce.add(t);
    this.announcing ??= this.announce().finally(() => {
      this.announcing = null;
    });
  }

  /** Tells other instances which topics were written: one statement at a time, carrying whatever came meanwhile. */
  private async announce(): Promise<void> {
    try {
      while (this.toAnnounce.size > 0 && !this.closed) {
        const topics = [...this.toAnnounce];
        this.toAnnounce.clear();
        await this.ds.query(`SELECT pg_notify('${CHANNEL}', $1 || ' ' || t) FROM unnest($2::text[]) AS t`, [this.instance, topics]);
      }
    } catch (err) {
      // Other instances still find the rows on their next look (IDLE_RECHECK_MS).
      if (!this.closed) this.opts.log.warn({ err }, 'embedded log: could not notify other instances');
    }
  }

  async subscribe(spec: SubscriptionSpec): Promise<Subscription> {
    // The only reader of its group: it owns every partition.
    const every = Array.from({ length: this.opts.partitions }, (_, i) => i);
    spec.onAssignment?.(Object.fromEntries(spec.topics.map((t) => [t, every])));
    const readers = spec.topics.map(
      (topic) => new LogReader(this.ds, topic, spec, spec.maxBatch ?? this.opts.batchSize, this.opts.log),
    );
    for (const r of readers) {
      this.readers.add(r);
      await r.start();
    }
    return {
      catchUp: async (timeoutMs) => {
        const results = await Promise.all(readers.map((r) => r.catchUp(timeoutMs)));
        return results.every(Boolean);
      },
      stop: async () => {
        await Promise.all(readers.map((r) => r.stop()));
        for (const r of readers) this.readers.delete(r);
      },
    };
  }

  async ping(): Promise<void> {
    await this.ds.query('SELECT 1');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.peersTimer) clearInterval(this.peersTimer);
    await this.announcing;
    await Promise.all([...this.readers].map((r) => r.stop()));
    this.readers.clear();
    await this.listener?.end().catch(() => undefined);
    await this.ds.destroy();
  }

  private async append(em: EntityManager, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // One JSON document for the whole batch: serialised once, natively, rather than as array
    // literals that escape every value; `v json` keeps each value's text exactly as serialised.
    const rows = messages.map((m) => ({ t: m.topic, p: partitionOf(m.key, this.opts.partitions), k: m.key, v: m.value, h: m.headers ?? null }));
    await em.query(
      `INSERT INTO ${SCHEMA}.log (topic, partition, key, value, headers)
       SELECT t, p, k, v::text, h FROM json_to_recordset($1::json) AS x(t text, p int, k text, v json, h jsonb)`,
      [JSON.stringify(rows)],
    );
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.opts.url, application_name: LISTENER_NAME });
    client.on('notification', (n) => {
      const [from, topic] = (n.payload ?? '').split(' ', 2);
      if (from === this.instance) return; // woken in process already
      this.peers = true; // another instance is here: tell it of our commits too
      for (const r of this.readers) if (topic === '*' || r.topic === topic) r.wake();
    });
    client.on('error', (err) => {
      if (this.closed) return;
      this.opts.log.warn({ err }, 'embedded log: LISTEN connection lost; reconnecting');
      this.listener = null;
      void this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
    // Hello to the instances already here: they start telling us of their commits.
    const hello = await client.query(`SELECT pg_backend_pid() AS pid, pg_notify('${CHANNEL}', $1 || ' *')`, [this.instance]);
    this.listenerPid = hello.rows[0].pid as number;
    await this.checkPeers();
    this.peersTimer ??= setInterval(() => void this.checkPeers(), PEERS_CHECK_MS).unref();
  }

  /** Whether any other instance listens (an instance gone stops being told within `PEERS_CHECK_MS`). */
  private async checkPeers(): Promise<void> {
    const pid = this.listenerPid;
    if (pid === null || this.closed) return;
    try {
      const [{ n }]: { n: number }[] = await this.ds.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> $2`,
        [LISTENER_NAME, pid],
      );
      this.peers = n > 0;
    } catch (err) {
      if (!this.closed) this.opts.log.warn({ err }, 'embedded log: could not look for other instances');
    }
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.listen();
        for (const r of this.readers) r.wake(); // whatever was appended meanwhile
        return;
      } catch (err) {
        this.opts.log.warn({ err }, 'embedded log: LISTEN reconnect failed');
        await delay(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }
}

interface LogRow {
  seq: string;
  xid: string;
  partition: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string> | null;
  ts: number;
}

/** One consumer group reading one topic of the log. */
class LogReader {
  readonly topic: string;
  private position = { xid: '0', seq: '0' };
  /**
   * Every row of a transaction below this xid has been handled: the horizon (xmin) of the last
   * pass that read all there was below its horizon; -1 before the first.
   */
  private handledBelow = -1n;
  private readonly wakeSignal = new Signal();
  private readonly drained = new Signal();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly ds: DataSource,
    topic: string,
    private readonly spec: SubscriptionSpec,
    private readonly batchSize: number,
    private readonly log: Log,
  ) {
    this.topic = topic;
  }

  async start(): Promise<void> {
    if (!this.spec.ephemeral) {
      const rows: { xid: string; seq: string }[] = await this.ds.query(
        `SELECT xid::text AS xid, seq::text AS seq FROM ${SCHEMA}.checkpoints WHERE group_id = $1 AND topic = $2`,
        [this.spec.group, this.topic],
      );
      if (rows[0]) this.position = rows[0];
      else if (this.spec.fromBeginning === false) await this.startAtEnd();
    }
    this.loop = this.run();
  }

  wake(): void {
    this.wakeSignal.notify();
  }

  async catchUp(timeoutMs: number): Promise<boolean> {
    const [{ target }]: { target: string }[] = await this.ds.query(
      'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS target',
    );
    const goal = BigInt(target);
    const deadline = Date.now() + timeoutMs;
    this.wake();
    // Whatever committed before this call has an xid below `goal`. Under a steady stream of
    // writes the log is never drained, but each pass that reads all there is below its horizon
    // moves `handledBelow`: waiting for the log to be idle would wait until the deadline.
    while (this.handledBelow < goal) {
      const left = deadline - Date.now();
      if (left <= 0 || this.abort.signal.aborted) return false;
      const notified = await this.drained.wait(Math.min(left, 20));
      // The horizon also moves when an older transaction ends, and that notifies no one when it
      // appended nothing: a reader short of the goal may idle, so make it look again.
      if (notified && this.handledBelow < goal) await delay(Math.min(10, Math.max(0, deadline - Date.now())), this.abort.signal);
      if (this.handledBelow < goal) this.wake();
    }
    return true;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        const { rows, horizon, blocked } = await this.fetch();
        if (rows.length > 0) {
          await this.spec.handle(rows.map((r) => this.toMessage(r)));
          const last = rows[rows.length - 1];
          this.position = { xid: last.xid, seq: last.seq };
          if (!this.spec.ephemeral) await this.saveCheckpoint();
        }
        failures = 0;
        if (rows.length === this.batchSize) continue;
        this.handledBelow = horizon;
        this.drained.notify();
        // Rows above the horizon, of a transaction younger than one still running: they become
        // readable when it ends, which may not notify us. Look again shortly.
        const woken = await this.wakeSignal.wait(blocked ? 5 : IDLE_RECHECK_MS);
        // A reader that lingers lets more rows come before it reads (see SubscriptionSpec.lingerMs).
        if (woken && this.spec.lingerMs) await delay(this.spec.lingerMs, this.abort.signal);
      } catch (err) {
        if (this.abort.signal.aborted) break;
        failures++;
        this.log.error({ err, group: this.spec.group, topic: this.topic }, 'embedded log: handling failed; will retry');
        await delay(Math.min(5_000, 50 * 2 ** failures), this.abort.signal);
      }
    }
  }

  /**
   * The next rows below the horizon (xmin: every transaction below it has ended), in commit order;
   * and, in the same round trip, whether rows wait above it.
   */
  private async fetch(): Promise<{ rows: LogRow[]; horizon: bigint; blocked: boolean }> {
    const rows: (LogRow & { horizon: string; blocked: boolean })[] = await this.ds.query(
      `SELECT h.xmin::text AS horizon,
              EXISTS (SELECT 1 FROM ${SCHEMA}.log b
                       WHERE b.topic = $1 AND (b.xid, b.seq) > ($2::xid8, $3::bigint) AND b.xid >= h.xmin) AS blocked,
              l.*
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
         LEFT JOIN LATERAL (
           SELECT g.seq::text AS seq, g.xid::text AS xid, g.partition, g.key, g.value, g.headers,
                  (extract(epoch FROM g.created_at) * 1000)::float8 AS ts
             FROM ${SCHEMA}.log g
            WHERE g.topic = $1 AND (g.xid, g.seq) > ($2::xid8, $3::bigint) AND g.xid < h.xmin
            -- Qualified: a bare "xid, seq" would sort by the text aliases above ('10' < '9').
            ORDER BY g.xid, g.seq
            LIMIT $4) l ON true`,
      [this.topic, this.position.xid, this.position.seq, this.batchSize],
    );
    const horizon = BigInt(rows[0].horizon);
    return { rows: rows[0].seq === null ? [] : rows, horizon, blocked: rows[0].blocked };
  }

  private async saveCheckpoint(): Promise<void> {
    await this.ds.query(
      `INSERT INTO ${SCHEMA}.checkpoints (group_id, topic, xid, seq) VALUES ($1, $2, $3::xid8, $4)
       ON CONFLICT (group_id, topic) DO UPDATE SET xid = EXCLUDED.xid, seq = EXCLUDED.seq, updated_at = now()`,
      [this.spec.group, this.topic, this.position.xid, this.position.seq],
    );
  }

  private async startAtEnd(): Promise<void> {
    const rows: { xid: string; seq: string }[] = await this.ds.query(
      `SELECT g.xid::text AS xid, g.seq::text AS seq FROM ${SCHEMA}.log g WHERE g.topic = $1 ORDER BY g.xid DESC, g.seq DESC LIMIT 1`,
      [this.topic],
    );
    if (rows[0]) this.position = rows[0];
  }

  private toMessage(r: LogRow): IncomingMessage {
    return {
      topic: this.topic,
      partition: r.partition,
      offset: `${r.xid}:${r.seq}`,
      key: r.key,
      value: r.value,
      headers: r.headers ?? {},
      timestamp: Math.round(r.ts),
    };
  }
}
