/**
 * The transport port's contract, run against both adapters with the real broker and the real
 * database: Kafka (kafkajs, a namespace of its own on the test broker, 3 partitions) and the
 * embedded log (Postgres). Every test gets a fresh database and, for Kafka, a fresh namespace, so
 * tests never see each other's messages, groups or checkpoints.
 *
 * The assertions are what a user of the port relies on: every message delivered to every group,
 * in order per key; checkpoints; the outbox's transactional behaviour and read-your-writes;
 * `catchUp`; at-least-once delivery through handler failures, stops and a killed process; the
 * edge's dead letters; tombstones; and `claimEvents`.
 *
 * Publishing is at least once too (the Kafka producer is not idempotent: a request retried after a
 * partial failure writes some messages twice, at new offsets). So the tests compare the distinct
 * ids a consumer saw, as a consumer that dedupes would, and check on their own that no position
 * of a partition was handed over and acknowledged twice where nothing failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DataSource, QueryRunner } from 'typeorm';
import { TOPIC_SPECS, Topics } from '@waybill/contracts';
import { openServiceDataSource } from '@waybill/persistence';
import { createTestDatabase, testKafkaBrokers, uniqueName } from '@waybill/testing';
import type { ConsumerChildOptions } from './__fixtures__/consumer-child';
import { claimEvents } from './dedupe';
import { EmbeddedTransport } from './embedded/embedded.transport';
import { type Consumed, type DeadLetter, subscribeEvents } from './event-consumer';
import { commitWithEvents, eventMessage, tombstone } from './events';
import { KafkaTransport } from './kafka/kafka.transport';
import { silentLog } from './logger';
import { partitionOf } from './partitioner';
import { CreateMessagingTables1732370000001 } from './service-tables.migration';
import type { IncomingMessage, MessageTransport, OutgoingMessage, Subscription } from './transport.port';
import { delay, pollUntil } from './wait';

jest.setTimeout(60_000);

const REPO_ROOT = path.resolve(__dirname, '../../..');
const CONSUMER_CHILD = path.join(__dirname, '__fixtures__', 'consumer-child.ts');
const TOPIC = Topics.transactionEvents;

// ---------------------------------------------------------------------------------------------
// The two adapters

interface World {
  kind: 'kafka' | 'embedded';
  transport: MessageTransport;
  /** A service's own schema: its outbox table (Kafka mode) and processed_events. */
  schema: string;
  ds: DataSource;
  /** How a consumer in another process reaches the same transport. */
  child: Omit<ConsumerChildOptions, 'group' | 'topic' | 'blockAfter'>;
  /** Another instance of the same transport (another process of the service); closed with the world. */
  openAnother(): Promise<MessageTransport>;
  close(): Promise<void>;
}

/** Keeps `transport` in `list` for the world to close, and makes a second close() harmless. */
function closeOnce(list: MessageTransport[], transport: MessageTransport): MessageTransport {
  const close = transport.close.bind(transport);
  let closing: Promise<void> | null = null;
  transport.close = () => (closing ??= close());
  list.push(transport);
  return transport;
}

function serviceDataSource(url: string, schema: string): Promise<DataSource> {
  return openServiceDataSource({ url, schema, migrations: [CreateMessagingTables1732370000001], poolSize: 4 });
}

/** Kafka mode keeps only the services' schemas in Postgres: one database, a schema per test. */
let kafkaDatabase: Promise<string> | null = null;

async function makeKafka(): Promise<World> {
  const databaseUrl = await (kafkaDatabase ??= createTestDatabase());
  const brokers = testKafkaBrokers();
  const namespace = uniqueName('ns');
  const schema = uniqueName('svc');
  const ds = await serviceDataSource(databaseUrl, schema);
  const open = (): Promise<KafkaTransport> =>
    KafkaTransport.open({ brokers, clientId: 'transport-contract', databaseUrl, namespace, partitions: 3, sessionTimeoutMs: 6_000 });
  const transport = await open().catch(async (err: unknown) => {
    await ds.destroy();
    throw err;
  });
  const others: MessageTransport[] = [];
  const world: World = {
    kind: 'kafka',
    transport,
    schema,
    ds,
    child: { kind: 'kafka', databaseUrl, brokers, namespace, partitions: 3 },
    openAnother: async () => closeOnce(others, await open()),
    close: async () => {
      await Promise.all([transport, ...others].map((t) => t.close()));
      await ds.destroy();
    },
  };
  await transport.ensureTopics(TOPIC_SPECS).catch(async (err: unknown) => {
    await world.close();
    throw err;
  });
  return world;
}

async function makeEmbedded(): Promise<World> {
  const databaseUrl = await createTestDatabase();
  const ds = await serviceDataSource(databaseUrl, 'svc');
  const transport = await EmbeddedTransport.open({ url: databaseUrl }).catch(async (err: unknown) => {
    await ds.destroy();
    throw err;
  });
  await transport.ensureTopics(TOPIC_SPECS);
  const others: MessageTransport[] = [];
  return {
    kind: 'embedded',
    transport,
    schema: 'svc',
    ds,
    child: { kind: 'embedded', databaseUrl },
    openAnother: async () => closeOnce(others, await EmbeddedTransport.open({ url: databaseUrl })),
    close: async () => {
      await Promise.all([transport, ...others].map((t) => t.close()));
      await ds.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** What the tests put in a plain (non-event) message: its id, key and position in its key's stream. */
interface Body {
  id: string;
  key: string;
  seq: number;
}

function bodyOf(m: IncomingMessage): Body {
  if (m.value === null) throw new Error(`unexpected tombstone for key ${m.key}`);
  return JSON.parse(m.value) as Body;
}

/** `count` messages over `keys` keys, interleaved in a random order; `seq` counts per key. */
function stream(prefix: string, count: number, keys: number, topic: string = TOPIC): OutgoingMessage[] {
  const seqs = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const key = `${prefix}-k${Math.floor(Math.random() * keys)}`;
    const seq = seqs.get(key) ?? 0;
    seqs.set(key, seq + 1);
    return { topic, key, value: { id: `${prefix}-${i}`, key, seq } satisfies Body };
  });
}

function idsOf(messages: OutgoingMessage[]): string[] {
  return messages.map((m) => (m.value as Body).id);
}

/** Sequence numbers per key, in the order seen. */
function perKey(bodies: Body[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const b of bodies) (out[b.key] ??= []).push(b.seq);
  return out;
}

/** Publishes in several calls of varying size, as producers do. */
async function publishInChunks(transport: MessageTransport, messages: OutgoingMessage[]): Promise<void> {
  for (let i = 0, size = 1; i < messages.length; i += size, size = (size * 7) % 61 || 1) {
    await transport.publish(messages.slice(i, i + size));
  }
}

/** Records every batch a handler was given and then acknowledged (resolved). */
class Collector {
  readonly batches: IncomingMessage[][] = [];
  readonly handle = async (messages: IncomingMessage[]): Promise<void> => {
    this.batches.push(messages);
  };
  get messages(): IncomingMessage[] {
    return this.batches.flat();
  }
  /** Distinct messages by id, in the order first seen. */
  bodies(): Body[] {
    const seen = new Set<string>();
    return this.messages.map(bodyOf).filter((b) => !seen.has(b.id) && seen.add(b.id));
  }
  ids(): string[] {
    return this.bodies().map((b) => b.id);
  }
  /** Partition and offset of every message handed over, in order. */
  positions(): string[] {
    return this.messages.map((m) => `${m.partition}/${m.offset}`);
  }
}

function bodiesOf(messages: OutgoingMessage[]): Body[] {
  return messages.map((m) => m.value as Body);
}

/** Every position handed over once: nothing acknowledged was delivered again. */
function expectEachPositionOnce(...collectors: Collector[]): void {
  const positions = collectors.flatMap((c) => c.positions());
  expect(positions.length - new Set(positions).size).toBe(0);
}

/** Every published message, each key's in publish order, no position twice. */
function expectDeliveredInOrder(got: Collector, published: OutgoingMessage[]): void {
  expectEachPositionOnce(got);
  expect(got.ids().sort()).toEqual(idsOf(published).sort());
  expect(perKey(got.bodies())).toEqual(perKey(bodiesOf(published)));
}

/** A promise the test opens (or fails) by hand; afterEach opens whatever a test left shut. */
interface Gate {
  promise: Promise<void>;
  open(): void;
  fail(err: Error): void;
}
const gates: Gate[] = [];
function gate(): Gate {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  const g = { promise, open, fail };
  gates.push(g);
  return g;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  if (!(await pollUntil(async () => check(), timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Appends a message whose value is `text` exactly (not JSON-encoded: it may not be JSON at all),
 * through the adapter's own outbox path: a placeholder value is appended, then swapped for the raw
 * text in the same transaction, in the table the adapter keeps it in (the embedded log, or the
 * service's outbox, whose relay then publishes the row's text as it is).
 */
async function appendRaw(world: World, topic: string, key: string, text: string): Promise<void> {
  const placeholder = `raw-placeholder-${randomUUID()}`;
  const outbox = world.transport.outbox(world.schema);
  const table = world.kind === 'kafka' ? `${world.schema}.outbox` : 'messaging.log';
  await world.ds.transaction(async (em) => {
    await outbox.append(em, [{ topic, key, value: placeholder }]);
    const [, swapped] = await em.query(`UPDATE ${table} SET value = $1 WHERE value = $2`, [text, JSON.stringify(placeholder)]);
    if (swapped !== 1) throw new Error(`appendRaw: the placeholder was not found in ${table}`);
  });
  await outbox.flush();
}

/** Gives query runners back, rolling back what a failed test left open (it would hold readers back). */
async function release(...runners: QueryRunner[]): Promise<void> {
  for (const r of runners) {
    if (r.isTransactionActive) await r.rollbackTransaction().catch(() => undefined);
    await r.release();
  }
}

/** A consumer in its own process (see `__fixtures__/consumer-child.ts`). */
class ChildConsumer {
  readonly handled: string[][] = [];
  blocked: string[] | null = null;
  ready = false;
  failed: string | null = null;
  exitCode: number | null = null;
  private readonly stderr: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    if (!child.stdout || !child.stderr) throw new Error('child spawned without pipes');
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    createInterface({ input: child.stderr }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : 0);
        resolve();
      }),
    );
  }

  static start(options: ConsumerChildOptions): ChildConsumer {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', CONSUMER_CHILD, JSON.stringify(options)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const consumer = new ChildConsumer(child);
    children.add(consumer);
    return consumer;
  }

  async until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    await pollUntil(async () => check() || this.failed !== null || this.exitCode !== null, timeoutMs);
    if (!check()) {
      throw new Error(`consumer child: no ${what} (failed: ${this.failed}, exit: ${this.exitCode})\n${this.stderr.join('\n')}`);
    }
  }

  /** SIGKILL: no exit handler runs, nothing is committed or disconnected cleanly. */
  async kill(): Promise<void> {
    if (this.exitCode === null) this.child.kill('SIGKILL');
    await this.exited;
    children.delete(this);
  }

  private onLine(line: string): void {
    const [tag] = line.split(' ', 1);
    const payload = line.slice(tag.length + 1);
    if (tag === 'READY') this.ready = true;
    else if (tag === 'HANDLED') this.handled.push(JSON.parse(payload) as string[]);
    else if (tag === 'BLOCKED') this.blocked = JSON.parse(payload) as string[];
    else if (tag === 'FAILED') this.failed = JSON.parse(payload) as string;
  }
}
const children = new Set<ChildConsumer>();

// ---------------------------------------------------------------------------------------------

describe.each([
  ['kafka', makeKafka],
  ['embedded', makeEmbedded],
] as const)('MessageTransport contract: %s', (_kind, make) => {
  let world: World;
  let transport: MessageTransport;

  beforeEach(async () => {
    world = await make();
    transport = world.transport;
  });

  afterEach(async () => {
    for (const g of gates.splice(0)) g.open();
    await Promise.all([...children].map((c) => c.kill()));
    const closing = world;
    world = undefined as unknown as World; // a failed make() must not close the previous world twice
    await closing?.close();
  });

  async function subscribe(group: string, handle: (m: IncomingMessage[]) => Promise<void>, ephemeral = false): Promise<Subscription> {
    return transport.subscribe({ group, topics: [TOPIC], ephemeral, handle });
  }

  describe('publish and subscribe', () => {
    it('delivers every message of a topic to a group, in order per key, on the partition of its key', async () => {
      const published = stream('p', 400, 25);
      const traced = published.map((m, i) => (i % 10 === 0 ? { ...m, headers: { 'x-trace': (m.value as Body).id } } : m));
      await publishInChunks(transport, traced);

      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      expect(await sub.catchUp(20_000)).toBe(true);

      // Every message, each key's in publish order, and no position handed over twice.
      expectDeliveredInOrder(got, published);
      // Under the topic's own name, with its key and headers, on the partition Kafka would choose.
      for (const m of got.messages) {
        const body = bodyOf(m);
        expect(m.topic).toBe(TOPIC);
        expect(m.key).toBe(body.key);
        expect(m.partition).toBe(partitionOf(body.key, transport.partitions));
        if (Number(body.id.split('-')[1]) % 10 === 0) expect(m.headers['x-trace']).toBe(body.id);
        expect(Math.abs(m.timestamp - Date.now())).toBeLessThan(60_000);
      }
      // The keys really were spread across partitions.
      expect(new Set(got.messages.map((m) => m.partition)).size).toBeGreaterThan(1);
    });

    it('lets two groups each read every message', async () => {
      const a = new Collector();
      const b = new Collector();
      const subA = await subscribe(uniqueName('ga'), a.handle);
      const subB = await subscribe(uniqueName('gb'), b.handle);
      const published = stream('two', 200, 20);
      await publishInChunks(transport, published);

      expect(await subA.catchUp(20_000)).toBe(true);
      expect(await subB.catchUp(20_000)).toBe(true);
      expectDeliveredInOrder(a, published);
      expectDeliveredInOrder(b, published);
    });

    it('resumes a stopped group after its checkpoint: nothing lost, nothing acknowledged replayed', async () => {
      const group = uniqueName('g');
      const before = stream('before', 150, 15);
      await publishInChunks(transport, before);
      const first = new Collector();
      const sub1 = await subscribe(group, first.handle);
      expect(await sub1.catchUp(20_000)).toBe(true); // all of `before` handled and acknowledged
      await sub1.stop();

      const during = stream('during', 100, 15); // published while the group is down
      await publishInChunks(transport, during);
      const second = new Collector();
      const sub2 = await subscribe(group, second.handle);
      expect(await sub2.catchUp(20_000)).toBe(true);

      expectDeliveredInOrder(first, before);
      expectDeliveredInOrder(second, during); // none of `before` again
      expectEachPositionOnce(first, second);

      // And it keeps going after the restart.
      const after = stream('after', 30, 5);
      await transport.publish(after);
      expect(await sub2.catchUp(20_000)).toBe(true);
      expectDeliveredInOrder(second, [...during, ...after]);
    });

    it('replays the whole topic to an ephemeral subscription at every start', async () => {
      const group = uniqueName('replica');
      const first = stream('eph1', 60, 6);
      await transport.publish(first);

      const a = new Collector();
      const subA = await subscribe(group, a.handle, true);
      const b = new Collector(); // a second instance of the same replica, at the same time
      const subB = await subscribe(group, b.handle, true);
      expect(await subA.catchUp(20_000)).toBe(true);
      expect(await subB.catchUp(20_000)).toBe(true);
      expectDeliveredInOrder(a, first);
      expectDeliveredInOrder(b, first);
      await subA.stop();

      const second = stream('eph2', 20, 6);
      await transport.publish(second);
      const again = new Collector();
      const subAgain = await subscribe(group, again.handle, true);
      expect(await subAgain.catchUp(20_000)).toBe(true);
      expect(await subB.catchUp(20_000)).toBe(true);
      expectDeliveredInOrder(again, [...first, ...second]); // from the start, not from where `a` stopped
      expectDeliveredInOrder(b, [...first, ...second]);
    });
  });

  describe('outbox', () => {
    it('delivers what a committed transaction appended and never what a rolled-back one did; flush + catchUp reads your writes', async () => {
      const outbox = transport.outbox(world.schema);
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      expect(await sub.catchUp(20_000)).toBe(true);

      for (let round = 0; round < 4; round++) {
        const rolledBack = stream(`rb${round}`, 3, 2);
        await expect(
          world.ds.transaction(async (em) => {
            await em.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)', ['outbox-test', randomUUID()]);
            await outbox.append(em, rolledBack);
            throw new Error('business rule failed');
          }),
        ).rejects.toThrow('business rule failed');

        const committed = stream(`c${round}`, 5, 2);
        const result = await commitWithEvents(world.ds, outbox, async (em, emit) => {
          await em.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)', ['outbox-test', randomUUID()]);
          emit(...committed);
          return 'stored';
        });
        expect(result).toBe('stored');
        // commitWithEvents has flushed: a catch-up started now must see the committed messages.
        expect(await sub.catchUp(20_000)).toBe(true);
        expect(got.ids()).toEqual(expect.arrayContaining(idsOf(committed)));
        expect(got.ids().filter((id) => idsOf(rolledBack).includes(id))).toEqual([]);

        // The same through the port alone: append in a transaction, then flush, then catch up.
        const direct = stream(`d${round}`, 2, 2);
        await world.ds.transaction((em) => outbox.append(em, direct));
        await outbox.flush();
        expect(await sub.catchUp(20_000)).toBe(true);
        expect(got.ids()).toEqual(expect.arrayContaining(idsOf(direct)));
      }
      expect(got.ids().filter((id) => id.startsWith('rb'))).toEqual([]);
      expect(got.ids()).toHaveLength(4 * 7);
      expectEachPositionOnce(got);
    });

    it('relays rows whose sizes add up past what one record batch may hold, in order', async () => {
      // Six values of 1.5 MiB for one key: 9 MiB for one partition, above the topic's 8 MiB limit
      // for a record batch had they gone in one pass.
      const outbox = transport.outbox(world.schema);
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      const filler = 'x'.repeat(1.5 * 1024 * 1024);
      const big: OutgoingMessage[] = Array.from({ length: 6 }, (_, seq) => ({ topic: TOPIC, key: 'big', value: { id: `big-${seq}`, key: 'big', seq, filler } }));
      await world.ds.transaction((em) => outbox.append(em, big));
      await outbox.flush(30_000);
      expect(await sub.catchUp(30_000)).toBe(true);
      expect(got.ids()).toEqual(idsOf(big));
    });

    it('is relayed by another instance of the service once the first one closed', async () => {
      // Two processes of one service share its schema's outbox; one relays at a time. When the
      // first closes, the second must take over, or what it appends never leaves the outbox.
      const message = (id: string): OutgoingMessage => ({ topic: TOPIC, key: 'handover', value: { id, key: 'handover', seq: 0 } });
      const one = await world.openAnother();
      const outboxOne = one.outbox(world.schema);
      await outboxOne.flush(); // a first request may flush at once, while the relay is still starting
      await commitWithEvents(world.ds, outboxOne, async (_em, emit) => emit(message('one')));
      await one.close();

      const two = await world.openAnother();
      const outbox = two.outbox(world.schema);
      await commitWithEvents(world.ds, outbox, async (_em, emit) => emit(message('two')));

      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      expect(await sub.catchUp(20_000)).toBe(true);
      expect(got.ids().sort()).toEqual(['one', 'two']);
    });

    it('leaves no database connection behind once closed', async () => {
      // Connections of anything but this test's own service data source, before and after.
      const connections = async (): Promise<number> => {
        const [{ n }]: { n: number }[] = await world.ds.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> $1`,
          [`waybill-${world.schema}`],
        );
        return n;
      };
      const before = await connections();
      const other = await world.openAnother();
      const outbox = other.outbox(world.schema);
      await outbox.flush(); // at once, while the relay is still starting
      await commitWithEvents(world.ds, outbox, async (_em, emit) => emit({ topic: TOPIC, key: 'k', value: { id: 'x', key: 'k', seq: 0 } }));
      const got = new Collector();
      const sub = await other.subscribe({ group: uniqueName('g'), topics: [TOPIC], handle: got.handle });
      expect(await sub.catchUp(20_000)).toBe(true);
      expect(got.ids()).toEqual(['x']);
      await other.close();
      await eventually(async () => (await connections()) <= before, 'the closed instance to hang up', 5_000);
    });

    it('does not skip a row appended early by a transaction that commits last, after the reader consumed a later row', async () => {
      // B takes its transaction id first (a write of its own), then A appends (the earlier row),
      // then B appends and commits. The reader consumes B while A is still open; then A commits.
      const outbox = transport.outbox(world.schema);
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      expect(await sub.catchUp(20_000)).toBe(true);

      const a = world.ds.createQueryRunner();
      const b = world.ds.createQueryRunner();
      try {
        await a.startTransaction();
        await b.startTransaction();
        await b.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)', ['late-commit', randomUUID()]);
        await outbox.append(a.manager, [{ topic: TOPIC, key: 'late', value: { id: 'A', key: 'late', seq: 0 } }]);
        await outbox.append(b.manager, [{ topic: TOPIC, key: 'late', value: { id: 'B', key: 'late', seq: 1 } }]);
        await b.commitTransaction();
        await outbox.flush();
        await eventually(() => got.ids().includes('B'), 'the reader to consume B while A is open');
        expect(got.ids()).toEqual(['B']);

        await a.commitTransaction();
        await outbox.flush();
        expect(await sub.catchUp(20_000)).toBe(true);
        expect(got.ids().sort()).toEqual(['A', 'B']);
      } finally {
        await release(a, b);
      }
    });

    it('does not skip a row of the oldest open transaction when a younger one commits first', async () => {
      // A appends first and stays open; B appends and commits; the reader gets every chance to
      // move past A's row; then A commits last. A's message must still be delivered.
      const outbox = transport.outbox(world.schema);
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      expect(await sub.catchUp(20_000)).toBe(true);

      const a = world.ds.createQueryRunner();
      try {
        await a.startTransaction();
        await outbox.append(a.manager, [{ topic: TOPIC, key: 'k1', value: { id: 'A', key: 'k1', seq: 0 } }]);
        await world.ds.transaction((em) => outbox.append(em, [{ topic: TOPIC, key: 'k2', value: { id: 'B', key: 'k2', seq: 0 } }]));
        await outbox.flush();
        // Let the reader run over B. Kafka delivers B at once; the embedded log holds rows of
        // transactions younger than A until A ends (that is how it never skips A), so this
        // bounded catch-up may report false there. Either is fine: what matters is A below.
        await sub.catchUp(1_000);

        await a.commitTransaction();
        await outbox.flush();
        expect(await sub.catchUp(20_000)).toBe(true);
        expect(got.ids().sort()).toEqual(['A', 'B']);
      } finally {
        await release(a);
      }
    });
  });

  describe('catchUp', () => {
    it('resolves true at once on an empty topic', async () => {
      const sub = await subscribe(uniqueName('g'), new Collector().handle);
      const started = Date.now();
      expect(await sub.catchUp(10_000)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('resolves true once everything published before the call was handled', async () => {
      const published = stream('cu', 120, 12);
      await publishInChunks(transport, published);
      const got = new Collector();
      const slow = async (messages: IncomingMessage[]): Promise<void> => {
        await delay(20); // a handler that takes its time
        await got.handle(messages);
      };
      const sub = await subscribe(uniqueName('g'), slow);
      expect(await sub.catchUp(20_000)).toBe(true);
      // Read at the moment catchUp resolved: nothing published before it is missing.
      expectDeliveredInOrder(got, published);
    });

    it('resolves false when a handler is stuck past the timeout, and true once it is unstuck', async () => {
      const stuck = gate();
      let entered = false;
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), async (messages) => {
        if (messages.some((m) => bodyOf(m).id === 'stuck')) {
          entered = true;
          await stuck.promise;
        }
        await got.handle(messages);
      });
      await transport.publish([{ topic: TOPIC, key: 'k', value: { id: 'stuck', key: 'k', seq: 0 } }]);
      await eventually(() => entered, 'the handler to get the message');

      const started = Date.now();
      expect(await sub.catchUp(500)).toBe(false);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(450);
      expect(waited).toBeLessThan(5_000);

      stuck.open();
      expect(await sub.catchUp(20_000)).toBe(true);
      expect(got.ids()).toEqual(['stuck']);
    });

    it('resolves true while writers never pause: what came before the call was handled, the rest may still be coming', async () => {
      const got = new Collector();
      // A handler that takes its time, as a projection writing its batch does: whatever the
      // writers commit meanwhile is there at the next pass, so the log is never found idle.
      const sub = await subscribe(uniqueName('g'), async (messages) => {
        await delay(20);
        await got.handle(messages);
      });
      let writing = true;
      let n = 0;
      const writers = Array.from({ length: 3 }, (_, w) =>
        (async () => {
          while (writing) await transport.publish(stream(`busy${w}-${n++}`, 3, 2));
        })(),
      );
      try {
        await eventually(() => got.messages.length >= 50, 'the stream to flow');
        const marker: OutgoingMessage = { topic: TOPIC, key: 'marker', value: { id: 'marker', key: 'marker', seq: 0 } };
        await transport.publish([marker]);
        expect(await sub.catchUp(5_000)).toBe(true);
        expect(got.ids()).toContain('marker');
      } finally {
        writing = false;
        await Promise.all(writers);
      }
    });

    it('is not held past the timeout by an unrelated database transaction that ends meanwhile', async () => {
      const got = new Collector();
      const sub = await subscribe(uniqueName('g'), got.handle);
      await transport.publish(stream('u', 10, 3));
      expect(await sub.catchUp(20_000)).toBe(true);

      // A slow request's transaction, open when catchUp is called and committed 300 ms later, while
      // a quicker one, begun after it, has already committed. Neither publishes anything.
      const other = world.ds.createQueryRunner();
      try {
        await other.startTransaction();
        await other.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)', ['slow', randomUUID()]);
        await world.ds.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)', ['quick', randomUUID()]);
        const caught = sub.catchUp(3_000);
        await delay(300);
        await other.commitTransaction();
        expect(await caught).toBe(true);
      } finally {
        await release(other);
      }
    });
  });

  describe('at least once', () => {
    it('hands a batch whose handler threw to it again, keeping the order per key', async () => {
      const published = stream('retry', 60, 4);
      await transport.publish(published);
      const failOn = idsOf(published)[25];
      const attempts: string[][] = [];
      const acked = new Collector();
      let failures = 0;
      const sub = await subscribe(uniqueName('g'), async (messages) => {
        const ids = messages.map((m) => bodyOf(m).id);
        attempts.push(ids);
        if (ids.includes(failOn) && failures < 2) {
          failures++;
          throw new Error('handler failed');
        }
        await acked.handle(messages);
      });
      expect(await sub.catchUp(20_000)).toBe(true);

      expect(failures).toBe(2);
      expect(attempts.filter((ids) => ids.includes(failOn)).length).toBeGreaterThanOrEqual(3);
      // What was acknowledged is the whole stream, in order per key, each position once.
      expectDeliveredInOrder(acked, published);
    });

    it('hands the batch again after a subscription is stopped while handling it', async () => {
      const group = uniqueName('g');
      const published = stream('stop', 90, 9);
      await transport.publish(published);

      const inFlight = gate();
      let blocked: string[] | null = null;
      const acked = new Collector();
      const sub1 = await subscribe(group, async (messages) => {
        if (blocked === null) {
          blocked = messages.map((m) => bodyOf(m).id);
          await inFlight.promise; // the process is shutting down under it
        }
        await acked.handle(messages);
      });
      await eventually(() => blocked !== null, 'the first batch');
      const stopping = sub1.stop();
      inFlight.fail(new Error('interrupted by shutdown'));
      await stopping;
      expect(acked.ids()).toEqual([]);

      const second = new Collector();
      const sub2 = await subscribe(group, second.handle);
      expect(await sub2.catchUp(30_000)).toBe(true);
      expect(second.ids()).toEqual(expect.arrayContaining(blocked!));
      expectDeliveredInOrder(second, published);
    });

    it('loses nothing when a consumer process is killed mid-batch', async () => {
      const group = uniqueName('g');
      const early = stream('early', 150, 15);
      await transport.publish(early);
      const child = ChildConsumer.start({ ...world.child, group, topic: TOPIC, blockAfter: 1 });
      await child.until(() => child.handled.length > 0, 'first handled batch');
      const late = stream('late', 150, 15);
      await transport.publish(late);
      await child.until(() => child.blocked !== null, 'batch in progress');
      await child.kill();

      const handledByChild = child.handled.flat();
      const inFlight = child.blocked!;
      expect(handledByChild.length).toBeGreaterThan(0);
      expect(inFlight.length).toBeGreaterThan(0);

      const got = new Collector();
      const sub = await subscribe(group, got.handle);
      // A killed Kafka member keeps its partitions until its session (6 s) expires.
      expect(await sub.catchUp(40_000)).toBe(true);
      const received = new Set([...handledByChild, ...got.ids()]);
      for (const id of [...idsOf(early), ...idsOf(late)]) expect(received).toContain(id);
      expect(got.ids()).toEqual(expect.arrayContaining(inFlight));
    });
  });

  describe('edge validation (subscribeEvents)', () => {
    it('sends unreadable messages to waybill.dead-letters with the reason and goes on with the valid ones', async () => {
      const key = 'tx-poison';
      const orgId = 'org-1';
      const routed = (n: number): OutgoingMessage =>
        eventMessage('transaction.routed.v1', {
          orgId,
          key,
          data: { transactionId: key, channelId: 'ch-1', deliveryId: `d-${n}`, generation: n },
        });
      const valid1 = routed(1);
      const valid2 = routed(2);
      const valid3 = routed(3);
      const unknownType = { ...(routed(9).value as object), type: 'transaction.teleported.v1' };
      const badData = { ...(routed(9).value as object), data: { transactionId: key, generation: 'two' } };

      await transport.publish([valid1]);
      await appendRaw(world, TOPIC, key, '{"eventId": not json');
      await transport.publish([
        { topic: TOPIC, key, value: unknownType },
        { topic: TOPIC, key, value: badData },
        { topic: TOPIC, key, value: 'a JSON string, not an envelope' },
        valid2,
      ]);

      const raw = new Collector(); // what is on the topic, to check the dead letters against
      const rawSub = await subscribe(uniqueName('raw'), raw.handle);
      const letters: IncomingMessage[] = [];
      const deadSub = await transport.subscribe({
        group: uniqueName('dead'),
        topics: [Topics.deadLetters],
        handle: async (m) => {
          letters.push(...m);
        },
      });
      const handled: Consumed[] = [];
      const group = uniqueName('edge');
      const sub = await subscribeEvents(transport, silentLog, {
        group,
        topics: [TOPIC],
        handle: async (items) => {
          handled.push(...items);
        },
      });

      expect(await sub.catchUp(20_000)).toBe(true);
      const eventIds = (ms: OutgoingMessage[]): string[] => ms.map((m) => (m.value as { eventId: string }).eventId);
      const handledIds = (): string[] => [...new Set(handled.map((i) => (i.kind === 'event' ? i.event.eventId : `tombstone:${i.key}`)))];
      expect(handledIds()).toEqual(eventIds([valid1, valid2]));
      expect(handled[0]).toMatchObject({ kind: 'event', event: { type: 'transaction.routed.v1', data: { generation: 1 } } });

      // Dead letters were published before the batch was acknowledged: they are there already.
      expect(await deadSub.catchUp(20_000)).toBe(true);
      expect(await rawSub.catchUp(20_000)).toBe(true);
      const onTopic = raw.messages; // one key, so one partition: in publish order
      const distinctValues = [...new Set(onTopic.map((m) => m.value))];
      expect(distinctValues).toHaveLength(6); // valid1, the four poison messages, valid2
      const poisonValues = distinctValues.slice(1, 5);
      expect(poisonValues[0]).toBe('{"eventId": not json');
      const records = letters.map((m) => ({ key: m.key, record: JSON.parse(m.value!) as DeadLetter }));
      const reasonsByValue = new Map(records.map(({ record }) => [record.value, record.reason]));
      expect(poisonValues.map((v) => reasonsByValue.get(v))).toEqual([
        expect.stringMatching(/^not JSON/),
        expect.stringMatching(/unknown event type "transaction\.teleported\.v1"/),
        expect.stringMatching(/^transaction\.routed\.v1: .*(channelId|generation)/s),
        expect.stringMatching(/^envelope: /),
      ]);
      for (const { key: letterKey, record } of records) {
        // Each letter names the message it stands for: where it was, its key, its exact text.
        const original = onTopic.find((m) => m.partition === record.partition && m.offset === record.offset);
        expect(original).toBeDefined();
        expect(letterKey).toBe(key);
        expect(record).toMatchObject({ group, topic: TOPIC, key, value: original!.value });
        expect(Number.isNaN(Date.parse(record.failedAt))).toBe(false);
      }
      // Each poison position dead-lettered once; none dropped.
      const letterPositions = records.map(({ record }) => `${record.partition}/${record.offset}`);
      expect(new Set(letterPositions).size).toBe(letterPositions.length);
      expect(new Set(records.map(({ record }) => record.value))).toEqual(new Set(poisonValues));

      // The consumer did not stop at them: later events are handled too.
      await transport.publish([valid3]);
      expect(await sub.catchUp(20_000)).toBe(true);
      expect(handledIds()).toEqual(eventIds([valid1, valid2, valid3]));
    });
  });

  describe('tombstones', () => {
    it('reach the handler as tombstones, whether published or appended to the outbox', async () => {
      const issued = (apiKeyId: string): OutgoingMessage =>
        eventMessage('api-key.issued.v1', {
          orgId: 'org-1',
          key: apiKeyId,
          data: { apiKeyId, orgId: 'org-1', keyHash: 'a'.repeat(64), prefix: 'wb_', createdAt: new Date().toISOString() },
        });
      await transport.publish([issued('key-1'), issued('key-2')]);
      await transport.publish([tombstone(Topics.access, 'key-1')]);
      const outbox = transport.outbox(world.schema);
      await world.ds.transaction((em) => outbox.append(em, [tombstone(Topics.access, 'key-2')]));
      await outbox.flush();

      const items: Consumed[] = [];
      const sub = await subscribeEvents(transport, silentLog, {
        group: uniqueName('replica'),
        topics: [Topics.access],
        ephemeral: true,
        handle: async (batch) => {
          items.push(...batch);
        },
      });
      expect(await sub.catchUp(20_000)).toBe(true);

      for (const key of ['key-1', 'key-2']) {
        const kinds = items.filter((i) => (i.kind === 'event' ? i.event.key : i.key) === key).map((i) => i.kind);
        expect(kinds.filter((k, i) => k !== kinds[i - 1])).toEqual(['event', 'tombstone']); // (a re-sent publish may repeat one)
        const last = items.filter((i) => i.kind === 'tombstone' && i.key === key).at(-1);
        expect(last).toMatchObject({ kind: 'tombstone', key, message: { key, value: null, topic: Topics.access } });
      }
    });
  });

  describe('dedupe (claimEvents)', () => {
    it('returns only the ids never claimed before, and a rolled-back claim does not count', async () => {
      const [a, b, c, d, e] = Array.from({ length: 5 }, () => randomUUID());
      const claim = (ids: string[], consumer = 'projection'): Promise<Set<string>> =>
        world.ds.transaction((em) => claimEvents(em, consumer, ids));

      expect(await claim([])).toEqual(new Set());
      expect(await claim([a, b])).toEqual(new Set([a, b]));
      expect(await claim([b, c])).toEqual(new Set([c]));
      expect(await claim([e, e])).toEqual(new Set([e])); // the same event twice in one batch
      expect(await claim([a, b, c, e])).toEqual(new Set());
      expect(await claim([a], 'another-consumer')).toEqual(new Set([a])); // claims are per consumer

      await expect(
        world.ds.transaction(async (em) => {
          expect(await claimEvents(em, 'projection', [d])).toEqual(new Set([d]));
          throw new Error('applying failed');
        }),
      ).rejects.toThrow('applying failed');
      expect(await claim([d, a])).toEqual(new Set([d]));

      // The ids come back as the caller spelled them (event ids are validated as UUIDs, any case).
      const upper = randomUUID().toUpperCase();
      const fresh = await claim([upper]);
      expect(fresh.has(upper)).toBe(true);
      expect(await claim([upper.toLowerCase()])).toEqual(new Set());
    });

    it('lets a concurrent claim of the same id wait for the first: it wins only if the first rolls back', async () => {
      const id = randomUUID();
      const first = world.ds.createQueryRunner();
      try {
        await first.startTransaction();
        expect(await claimEvents(first.manager, 'projection', [id])).toEqual(new Set([id]));
        const second = world.ds.transaction((em) => claimEvents(em, 'projection', [id]));
        // The second claim waits on the first's uncommitted row.
        await eventually(async () => {
          const [{ waiting }]: { waiting: number }[] = await world.ds.query(
            `SELECT count(*)::int AS waiting FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%processed_events%'`,
          );
          return waiting > 0;
        }, 'the second claim to wait on the first');
        await first.rollbackTransaction();
        expect(await second).toEqual(new Set([id]));

        await first.startTransaction();
        const third = claimEvents(first.manager, 'projection', [id]);
        expect(await third).toEqual(new Set());
        await first.commitTransaction();
      } finally {
        await release(first);
      }
    });
  });
});
