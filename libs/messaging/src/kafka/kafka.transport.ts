import { randomUUID } from 'node:crypto';
import { Admin, Consumer, EachBatchPayload, Kafka, logLevel, LogEntry, Partitioners, Producer } from 'kafkajs';
import type { TopicSpec } from '@waybill/contracts';
import { quoteIdent } from '@waybill/persistence';
import type { IncomingMessage, MessageTransport, Outbox, OutgoingMessage, Subscription, SubscriptionSpec } from '../transport.port';
import { Log, silentLog } from '../logger';
import { delay, pollUntil } from '../wait';
import { KafkaOutbox } from './outbox-relay';
import { toKafkaBatch } from './kafka-messages';
import { Names } from './kafka-names';

/** What a lingering fetch waits for (see `SubscriptionSpec.lingerMs`). */
const LINGER_MIN_BYTES = 256 * 1024;

export interface KafkaTransportOptions {
  brokers: string[];
  clientId: string;
  /** Where the services' outboxes live (the relay reads them). */
  databaseUrl: string;
  /** Partitions of the topics this transport creates. */
  partitions?: number;
  /** Largest message the topics accept, in bytes. */
  maxMessageBytes?: number;
  /**
   * Prefix of every topic and consumer group, so that several deployments (or test runs) can share
   * one cluster: `acme` makes `waybill.channels` into `acme.waybill.channels`.
   */
  namespace?: string;
  /** Consumer session timeout: how long a dead instance keeps its partitions (ms). */
  sessionTimeoutMs?: number;
  log?: Log;
}

const CHUNK = 500;
/** Errors of a heartbeat or commit that mean this member's partitions may be another's now (kafkajs error types). */
const OUT_OF_GROUP = new Set(['REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID']);
/** The share of a session after which a member the coordinator has not answered gives its partitions up. */
const SESSION_TRUST = 0.7;
/** How long ensureTopics waits for topics whose creation reported an error to show up. */
const TOPICS_SHOW_MS = 30_000;

/** The production transport: kafkajs, with an outbox per service schema and its relay. */
export class KafkaTransport implements MessageTransport {
  readonly kind = 'kafka' as const;
  readonly partitions: number;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly outboxes = new Map<string, KafkaOutbox>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly log: Log;

  private constructor(private readonly opts: KafkaTransportOptions) {
    this.log = opts.log ?? silentLog;
    this.partitions = opts.partitions ?? 12;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.kafkaLog(entry),
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 8 },
      connectionTimeout: 3_000,
    });
    // One request in flight keeps each partition's order through retries; consumers dedupe on
    // eventId, so the idempotent producer (which would retry forever) is not needed.
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.admin = this.kafka.admin();
    this.names = new Names(opts.namespace);
  }

  private readonly names: Names;

  /** Connects producer and admin; fails with a clear error when the brokers cannot be reached. */
  static async open(opts: KafkaTransportOptions): Promise<KafkaTransport> {
    const t = new KafkaTransport(opts);
    try {
      await t.admin.connect();
      await t.producer.connect();
    } catch (err) {
      await t.close().catch(() => undefined);
      throw new Error(`Kafka is not reachable at ${opts.brokers.join(',')}: ${(err as Error).message}`);
    }
    return t;
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const missing = specs.filter((s) => !existing.has(this.names.topic(s.name)));
    if (missing.length === 0) return;
    const maxBytes = String(this.opts.maxMessageBytes ?? 8 * 1024 * 1024);
    try {
      await this.createTopics(missing, maxBytes);
    } catch (err) {
      // Several instances start at once: another one may have created them meanwhile. Or the
      // broker created them but its metadata lags (kafkajs, waiting for leaders, gives up on "does
      // not host this topic-partition"): give them a bounded while to show.
      const shown = await pollUntil(
        async () => {
          const now = new Set(await this.admin.listTopics().catch(() => []));
          return missing.every((s) => now.has(this.names.topic(s.name)));
        },
        TOPICS_SHOW_MS,
        200,
      );
      if (!shown) throw err;
    }
  }

  private async createTopics(missing: readonly TopicSpec[], maxBytes: string): Promise<void> {
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: this.names.topic(s.name),
        numPartitions: this.partitions,
        configEntries: [
          { name: 'cleanup.policy', value: s.compacted ? 'compact' : 'delete' },
          { name: 'max.message.bytes', value: maxBytes },
          ...(s.retentionMs !== null ? [{ name: 'retention.ms', value: String(s.retentionMs) }] : []),
        ],
      })),
    });
  }

  outbox(schema: string): Outbox {
    quoteIdent(schema);
    let outbox = this.outboxes.get(schema);
    if (!outbox) {
      outbox = new KafkaOutbox(this.opts.databaseUrl, schema, this.producer, this.names, this.log);
      this.outboxes.set(schema, outbox);
      outbox.start();
    }
    return outbox;
  }

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.sendBatch(
      toKafkaBatch(
        messages.map((m) => ({
          topic: this.names.topic(m.topic),
          key: m.key,
          raw: m.value === null ? null : JSON.stringify(m.value),
          headers: m.headers,
        })),
      ),
    );
  }

  async subscribe(spec: SubscriptionSpec): Promise<Subscription> {
    const sub = new KafkaSubscription(this.kafka, this.admin, spec, this.names, this.opts.sessionTimeoutMs ?? 10_000, this.log);
    await sub.start();
    this.subscriptions.add(sub);
    return {
      catchUp: (timeoutMs) => sub.catchUp(timeoutMs),
      stop: async () => {
        this.subscriptions.delete(sub);
        await sub.stop();
      },
    };
  }

  async ping(): Promise<void> {
    await this.admin.describeCluster();
  }

  async close(): Promise<void> {
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.subscriptions.clear();
    await Promise.all([...this.outboxes.values()].map((o) => o.stop()));
    this.outboxes.clear();
    await this.producer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }

  /**
   * kafkajs logs every retried request as an error (a coordinator still loading, a rebalance);
   * what fails for good reaches our code as a thrown error and is logged there.
   */
  private kafkaLog({ log }: LogEntry): void {
    const { message, ...fields } = log;
    this.log.warn({ kafka: fields }, message);
  }
}

class KafkaSubscription {
  private consumer: Consumer | null = null;
  private readonly groupId: string;
  /** Next offset to handle, per `topic:partition`, for what this instance handled. */
  private readonly handled = new Map<string, bigint>();
  /** Handled offsets not committed yet, by `topic:partition`, and the commit on its way. */
  private readonly toCommit = new Map<string, { topic: string; partition: number; offset: string }>();
  private committing: Promise<void> | null = null;
  private commitFailures = 0;
  private stopping = false;
  /** The partitions this member was last given, by topic; null once it may have lost them (until the next join). */
  private assigned: Record<string, number[]> | null = null;
  /** When the coordinator last answered this member (a join, a beat); see `watchSession`. */
  private lastAnswered = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** The partitions given up for the group's silence alone: taken up again if it answers that nothing changed. */
  private givenUpForSilence: Record<string, number[]> | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly spec: SubscriptionSpec,
    private readonly names: Names,
    private readonly sessionTimeoutMs: number,
    private readonly log: Log,
  ) {
    const group = names.topic(spec.group);
    this.groupId = spec.ephemeral ? `${group}.${randomUUID()}` : group;
    this.topics = spec.topics.map((t) => names.topic(t));
  }

  private readonly topics: string[];

  private get heartbeatMs(): number {
    return Math.max(500, Math.floor(this.sessionTimeoutMs / 5));
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.sessionTimeoutMs,
      rebalanceTimeout: this.sessionTimeoutMs * 2,
      heartbeatInterval: this.heartbeatMs,
      // Without a linger a fetch returns as soon as one message is there; with it, once it holds
      // LINGER_MIN_BYTES or the linger is over (fewer fetches, larger batches).
      ...(this.spec.lingerMs ? { minBytes: LINGER_MIN_BYTES, maxWaitTimeInMs: this.spec.lingerMs } : { maxWaitTimeInMs: 500 }),
      allowAutoTopicCreation: false,
      // A broker back is found within a second (a longer backoff left consumers idle for seconds after it).
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 1_000 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.joined(payload.memberAssignment));
    consumer.on(consumer.events.HEARTBEAT, () => this.answered());
    // A rebalance, a crash (the broker gone: kafkajs starts the consumer again, as a new member)
    // or a beat told that the group has moved on: the partitions may be read by another member now.
    consumer.on(consumer.events.REBALANCING, () => this.revoked());
    consumer.on(consumer.events.CRASH, () => this.revoked());
    this.watchdog = setInterval(() => this.watchSession(), Math.floor(this.heartbeatMs / 2));
    this.watchdog.unref();
    await consumer.connect();
    await consumer.subscribe({ topics: this.topics, fromBeginning: this.spec.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.spec.partitionsConcurrently ?? 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /**
   * The group gave this member `assignment` (topic → partitions). Offsets handled of partitions it
   * no longer reads are not committed (their new owner may be past them; it reads again what was
   * not committed, which its handler knows how to take).
   */
  private joined(assignment: Record<string, number[]>): void {
    this.assigned = assignment;
    this.givenUpForSilence = null;
    this.lastAnswered = Date.now();
    for (const [key, o] of this.toCommit) if (!assignment[o.topic]?.includes(o.partition)) this.toCommit.delete(key);
    this.spec.onAssignment?.(Object.fromEntries(Object.entries(assignment).map(([topic, partitions]) => [this.names.logical(topic), partitions])));
  }

  /**
   * A member the coordinator has not answered for most of a session (a broker down or restarting,
   * the network cut) may have been dropped: a restarted coordinator gives every partition to the
   * first member that joins again, and the others would hear of it only when they reach it. So
   * this member gives its partitions up before the session could have run out on the other side.
   */
  private watchSession(): void {
    const owns = this.assigned !== null && Object.values(this.assigned).some((partitions) => partitions.length > 0);
    if (!owns || Date.now() - this.lastAnswered <= SESSION_TRUST * this.sessionTimeoutMs) return;
    this.log.warn({ group: this.spec.group, silentMs: Date.now() - this.lastAnswered }, 'consumer: the group has not answered for most of a session; its partitions are given up until it answers');
    const assignment = this.assigned;
    this.revoked();
    this.givenUpForSilence = assignment;
  }

  /**
   * The coordinator answered a beat: this member is still in the group's generation. Partitions
   * given up for its silence alone are still this member's (no rebalance happened, or the beat
   * would have been refused): they are taken up again.
   */
  private answered(): void {
    this.lastAnswered = Date.now();
    const assignment = this.givenUpForSilence;
    if (this.assigned !== null || !assignment) return;
    this.log.info({ group: this.spec.group }, 'consumer: the group answered again; its partitions are taken up again');
    this.joined(assignment);
  }

  /**
   * This member may no longer own its partitions: a rebalance began, the consumer crashed, or the
   * group dropped it (a broker restarted and forgot it, a session ran out). Its handler is told at
   * once — it owns nothing until the next join — so that work it holds for a partition another
   * member may read now is handed over rather than done twice.
   */
  private revoked(): void {
    this.givenUpForSilence = null;
    if (this.assigned === null) return;
    this.assigned = null;
    this.spec.onAssignment?.({});
  }

  async catchUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const ends = new Map<string, bigint>();
    // kafkajs's admin gives up at once on retriable errors such as "not the leader for that
    // topic-partition" (a fresh topic, a leader moving): keep trying until the deadline.
    const gotEnds = await pollUntil(
      async () => {
        try {
          for (const topic of this.topics) {
            for (const p of await this.admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
          }
          return true;
        } catch (err) {
          this.log.debug({ err, group: this.spec.group }, 'consumer: topic offsets unavailable; will retry');
          return false;
        }
      },
      timeoutMs,
      100,
    );
    if (!gotEnds) return false;
    const reached = (positions: Map<string, bigint>): boolean =>
      [...ends].every(([tp, end]) => end === 0n || (positions.get(tp) ?? 0n) >= end);
    if (this.spec.ephemeral) {
      // This instance reads every partition: what it handled is the whole truth.
      return pollUntil(async () => reached(this.handled), deadline - Date.now(), 5);
    }
    // A group spread over instances: its committed offsets say what the whole group has handled.
    return pollUntil(async () => reached(await this.committed().catch(() => new Map<string, bigint>())), deadline - Date.now(), 10);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    // What was handled is committed before leaving (else the next owner would hand it out again).
    while (this.committing) await this.committing;
    if (this.toCommit.size > 0) await this.consumer?.commitOffsets([...this.toCommit.values()]).catch(() => undefined);
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = null;
  }

  /**
   * Commits the handled offsets of every partition in one request, one request at a time: a
   * batch does not wait for its own commit (a round trip to the coordinator per partition's batch
   * held each batch back), and a commit that fails is tried again with what came since. A crash
   * before a commit hands out again what was handled since the last one: at least once.
   */
  private commitSoon(): void {
    if (this.committing || this.toCommit.size === 0 || !this.consumer) return;
    const consumer = this.consumer;
    const offsets = [...this.toCommit.values()];
    this.toCommit.clear();
    this.committing = (async () => {
      try {
        await consumer.commitOffsets(offsets);
        this.commitFailures = 0;
      } catch (err) {
        for (const o of offsets) {
          const key = `${o.topic}:${o.partition}`;
          if (!this.toCommit.has(key)) this.toCommit.set(key, o); // unless a later one came meanwhile
        }
        this.outOfGroup(err as { type?: string });
        this.commitFailures++;
        this.log.warn({ err, group: this.spec.group }, 'consumer: committing offsets failed; will try again');
        await delay(Math.min(1_000, 100 * 2 ** this.commitFailures));
      } finally {
        this.committing = null;
      }
      if (!this.stopping) this.commitSoon();
    })();
  }

  private async committed(): Promise<Map<string, bigint>> {
    const positions = new Map<string, bigint>(this.handled);
    const offsets = await this.admin.fetchOffsets({ groupId: this.groupId, topics: this.topics });
    for (const t of offsets) {
      for (const p of t.partitions) {
        const key = `${t.topic}:${p.partition}`;
        const committed = p.offset === '-1' ? 0n : BigInt(p.offset);
        if (committed > (positions.get(key) ?? 0n)) positions.set(key, committed);
      }
    }
    return positions;
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const most = this.spec.maxBatch ?? CHUNK;
    // A beat whose answer says this member is out of date revokes its partitions, then fails as kafkajs expects.
    const beat = () =>
      heartbeat().catch((err: { type?: string }) => {
        this.outOfGroup(err);
        throw err;
      });
    for (let i = 0; i < batch.messages.length; i += most) {
      const chunk = batch.messages.slice(i, i + most);
      const logical = this.names.logical(topic);
      const messages: IncomingMessage[] = chunk.map((m) => ({
        topic: logical,
        partition,
        offset: m.offset,
        key: m.key ? m.key.toString() : null,
        value: m.value ? m.value.toString() : null,
        headers: Object.fromEntries(
          Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v ?? '')]),
        ),
        timestamp: Number(m.timestamp),
      }));
      for (let failures = 0; ; failures++) {
        // Not acknowledged: handed out again. A member that may have lost its partitions beats, to
        // hear of it and rejoin, rather than handle what another may be reading now.
        if (!isRunning() || isStale() || this.stopping) return;
        if (this.assigned === null) return this.beatUntilRejoin(beat, isRunning);
        // A handler may run longer than the session (a partition's batch held until each delivery
        // is finished or parked, while the database restarts): the member beats meanwhile, so that
        // the group does not drop it and hand its partitions to another that would read the same
        // messages while this one still works on them. A beat that learns that the group is
        // rebalancing, or has dropped this member, says so at once, so that the handler hands over
        // what it holds (and finishes sooner: the rebalance waits for this member).
        const beating = setInterval(() => beat().catch(() => undefined), this.heartbeatMs);
        try {
          await this.spec.handle(messages);
          break;
        } catch (err) {
          this.log.error({ err, group: this.spec.group, topic, partition }, 'consumer: handling failed; will retry');
          await delay(Math.min(5_000, 50 * 2 ** failures));
          await beat();
        } finally {
          clearInterval(beating);
        }
      }
      const last = chunk[chunk.length - 1].offset;
      resolveOffset(last);
      const next = BigInt(last) + 1n;
      this.handled.set(`${topic}:${partition}`, next);
      if (!this.spec.ephemeral) {
        this.toCommit.set(`${topic}:${partition}`, { topic, partition, offset: next.toString() });
        this.commitSoon();
      }
      await beat();
    }
  }

  /**
   * Beats until a beat fails (the group rebalancing, or not knowing this member: the error makes
   * kafkajs rejoin), for at most a session.
   */
  private async beatUntilRejoin(heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<void> {
    const until = Date.now() + this.sessionTimeoutMs;
    while (this.assigned === null && isRunning() && !this.stopping && Date.now() < until) {
      await heartbeat();
      await delay(Math.floor(this.heartbeatMs / 4));
    }
  }

  /** An error of the group's coordinator that says this member is out of date: its partitions are revoked. */
  private outOfGroup(err: { type?: string }): void {
    if (err?.type && OUT_OF_GROUP.has(err.type)) this.revoked();
  }
}
