import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Admin, Kafka, logLevel } from 'kafkajs';
import { Pool } from 'pg';
import type { Logger } from 'pino';
import type { MessageTransport } from '@waybill/messaging';
import { quoteIdent } from '@waybill/persistence';
import type { WaybillConfig } from '../config/config';
import { CONFIG, LOGGER, TRANSPORT } from '../tokens';
import { cached, MetricsRegistry } from './metrics.registry';

/** A scrape reuses a reading younger than this (ms): each costs broker and database round trips. */
const READ_MAX_AGE_MS = 5_000;
/** Backlogs are counted up to this many messages (the count stays cheap when something is stuck). */
const COUNT_CAP = 1_000_000;

interface Lag {
  group: string;
  topic: string;
  messages: number;
}

interface Backlog {
  schema: string;
  messages: number;
  oldestAgeSeconds: number;
}

/**
 * The messaging side of every process's `/metrics`:
 *
 * - `waybill_consumer_lag_messages{group,topic}`: messages of the topic not yet handled by the
 *   consumer group — what the broker says (Kafka: the log end less the committed offsets) or what
 *   the embedded log holds past the group's checkpoint. It is the deployment's view, the same from
 *   every process: aggregate with `max by (group, topic)`. In-memory replicas commit no position
 *   and are left out.
 * - `waybill_outbox_backlog_messages{schema}` and `waybill_outbox_oldest_age_seconds{schema}`:
 *   what each service's outbox holds that the relay has not published yet (always 0 on the
 *   embedded transport, whose outbox is the log itself).
 *
 * These read the broker and the messaging tables directly; once the transport port offers its own
 * lag and backlog readings, this belongs behind it.
 */
@Injectable()
export class TransportMetrics implements OnModuleInit, OnApplicationShutdown {
  private pool: Pool | null = null;
  private admin: Promise<Admin> | null = null;
  private lastWarning = 0;

  constructor(
    private readonly metrics: MetricsRegistry,
    @Inject(CONFIG) private readonly config: WaybillConfig,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    const lags = cached(READ_MAX_AGE_MS, () => (this.transport.kind === 'kafka' ? this.kafkaLags() : this.embeddedLags()));
    const backlogs = cached(READ_MAX_AGE_MS, () => this.outboxBacklogs());
    const warn = (err: unknown) => this.warn(err);
    this.metrics.gauge({
      name: 'waybill_consumer_lag_messages',
      help: 'Messages of a topic not yet handled by a consumer group.',
      labelNames: ['group', 'topic'],
      async collect() {
        this.reset();
        for (const l of await lags().catch(warn) ?? []) this.set({ group: l.group, topic: l.topic }, l.messages);
      },
    });
    this.metrics.gauge({
      name: 'waybill_outbox_backlog_messages',
      help: 'Messages in a service outbox not yet published to Kafka.',
      labelNames: ['schema'],
      async collect() {
        this.reset();
        for (const b of await backlogs().catch(warn) ?? []) this.set({ schema: b.schema }, b.messages);
      },
    });
    this.metrics.gauge({
      name: 'waybill_outbox_oldest_age_seconds',
      help: 'Age of the oldest message waiting in a service outbox (0 when empty).',
      labelNames: ['schema'],
      async collect() {
        this.reset();
        for (const b of await backlogs().catch(warn) ?? []) this.set({ schema: b.schema }, b.oldestAgeSeconds);
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.then((a) => a.disconnect()).catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
    this.pool = null;
  }

  private db(): Pool {
    if (!this.config.databaseUrl) throw new Error('no database configured');
    this.pool ??= new Pool({ connectionString: this.config.databaseUrl, max: 1, application_name: 'waybill-metrics' });
    return this.pool;
  }

  private async embeddedLags(): Promise<Lag[]> {
    const { rows } = await this.db().query<{ group_id: string; topic: string; lag: number }>(
      `SELECT c.group_id, c.topic,
              (SELECT count(*) FROM (SELECT 1 FROM messaging.log l
                                      WHERE l.topic = c.topic AND (l.xid, l.seq) > (c.xid, c.seq) LIMIT ${COUNT_CAP}) x)::int AS lag
         FROM messaging.checkpoints c`,
    );
    return rows.map((r) => ({ group: r.group_id, topic: r.topic, messages: r.lag }));
  }

  private async kafkaLags(): Promise<Lag[]> {
    const admin = await this.kafkaAdmin();
    const prefix = this.config.kafkaNamespace ? `${this.config.kafkaNamespace}.` : '';
    const logical = (name: string) => (prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name);
    const { groups } = await admin.listGroups();
    const ends = new Map<string, Promise<Map<number, { high: bigint; low: bigint }>>>();
    const endsOf = (topic: string) => {
      let e = ends.get(topic);
      if (!e) {
        e = admin.fetchTopicOffsets(topic).then((ps) => new Map(ps.map((p) => [p.partition, { high: BigInt(p.high), low: BigInt(p.low) }])));
        ends.set(topic, e);
      }
      return e;
    };
    const lags: Lag[] = [];
    for (const { groupId } of groups.filter((g) => g.groupId.startsWith(`${prefix}waybill.`))) {
      for (const t of await admin.fetchOffsets({ groupId })) {
        if (t.partitions.every((p) => p.offset === '-1')) continue; // commits nothing: an in-memory replica
        const partitionEnds = await endsOf(t.topic);
        let lag = 0n;
        for (const p of t.partitions) {
          const end = partitionEnds.get(p.partition);
          if (!end) continue;
          const position = p.offset === '-1' ? end.low : BigInt(p.offset);
          if (end.high > position) lag += end.high - position;
        }
        lags.push({ group: logical(groupId), topic: logical(t.topic), messages: Number(lag) });
      }
    }
    return lags;
  }

  private kafkaAdmin(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = new Kafka({
        clientId: 'waybill-metrics',
        brokers: this.config.kafkaBrokers ?? [],
        logLevel: logLevel.NOTHING,
        connectionTimeout: 3_000,
        retry: { retries: 2 },
      }).admin();
      await admin.connect();
      return admin;
    })().catch((err) => {
      this.admin = null;
      throw err;
    });
    return this.admin;
  }

  private async outboxBacklogs(): Promise<Backlog[]> {
    const db = this.db();
    const { rows: schemas } = await db.query<{ schema: string }>(
      `SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'outbox' AND table_type = 'BASE TABLE' ORDER BY 1`,
    );
    const backlogs: Backlog[] = [];
    for (const { schema } of schemas) {
      let table: string;
      try {
        table = `${quoteIdent(schema)}.outbox`;
      } catch {
        continue; // not a schema of ours
      }
      const { rows } = await db.query<{ n: number; age: number }>(
        `SELECT count(*)::int AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age
           FROM (SELECT created_at FROM ${table} ORDER BY id LIMIT ${COUNT_CAP}) o`,
      );
      backlogs.push({ schema, messages: rows[0].n, oldestAgeSeconds: rows[0].age });
    }
    return backlogs;
  }

  private warn(err: unknown): undefined {
    if (Date.now() - this.lastWarning > 60_000) {
      this.lastWarning = Date.now();
      this.log.warn({ err }, 'metrics: a messaging reading failed; its series are left out of this scrape');
    }
    return undefined;
  }
}
