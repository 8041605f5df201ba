/**
 * The Nest transport strategy over the messaging port, run against both adapters with the real
 * broker and the real database (Kafka in a namespace of its own, 3 partitions; the embedded log in
 * a fresh database): consumers declared as `@EventPattern` handlers on controllers of a hybrid Nest
 * application, started and stopped the way `startService` does it.
 *
 * What a service relies on: each handler call gets a batch; a batch is acknowledged only once its
 * handler resolved (a throwing handler gets it again, a stop in the middle leaves it to the next
 * instance); poison messages go to the dead letters; `catchUp` reads your writes; several groups
 * live in one app; the assignment reaches its listeners; the client's `emit` reaches a handler.
 */
import 'reflect-metadata';
import { Controller, INestApplication, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { lastValueFrom } from 'rxjs';
import { TOPIC_SPECS, Topics } from '@waybill/contracts';
import { createTestDatabase, testKafkaBrokers, uniqueName } from '@waybill/testing';
import { EmbeddedTransport } from '../embedded/embedded.transport';
import type { Consumed, DeadLetter } from '../event-consumer';
import { eventMessage } from '../events';
import { KafkaTransport } from '../kafka/kafka.transport';
import type { Log } from '../logger';
import type { IncomingMessage, MessageTransport, OutgoingMessage } from '../transport.port';
import { pollUntil } from '../wait';
import { connectConsumers } from './connect-consumers';
import { ConsumerContext } from './consumer-context';
import { Assignment, ConsumerGroups } from './consumer-groups';
import type { ConsumerOptions } from './consumer-options';
import { MessagingClient } from './messaging.client';
import { MessagingServer } from './messaging.server';

jest.setTimeout(90_000);

const TOPIC = Topics.transactionEvents;
const PARTITIONS = 3;

const ignore = (): void => undefined;

/** What the transports and the server logged, to find a handler's error in. */
class LogRecord implements Log {
  readonly errors: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
  readonly debug = ignore;
  readonly info = ignore;
  readonly warn = ignore;
  error(obj: object, msg?: string): void {
    this.errors.push({ obj: obj as Record<string, unknown>, msg });
  }
}

interface World {
  transport: MessageTransport;
  log: LogRecord;
  close(): Promise<void>;
}

async function makeKafka(): Promise<World> {
  const log = new LogRecord();
  const transport = await KafkaTransport.open({
    brokers: testKafkaBrokers(),
    clientId: 'messaging-server',
    databaseUrl: await createTestDatabase(),
    namespace: uniqueName('nest'),
    partitions: PARTITIONS,
    sessionTimeoutMs: 6_000,
    log,
  });
  await transport.ensureTopics(TOPIC_SPECS);
  return { transport, log, close: () => transport.close() };
}

async function makeEmbedded(): Promise<World> {
  const log = new LogRecord();
  const transport = await EmbeddedTransport.open({ url: await createTestDatabase(), partitions: PARTITIONS, log });
  return { transport, log, close: () => transport.close() };
}

/** `count` valid events over `keys` transactions; each key's `generation` counts up from 1 in publish order. */
function events(prefix: string, count: number, keys: number): OutgoingMessage[] {
  const generations = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const key = `${prefix}-tx${i % keys}`;
    const generation = (generations.get(key) ?? 0) + 1;
    generations.set(key, generation);
    return eventMessage('transaction.routed.v1', {
      orgId: 'org-1',
      key,
      data: { transactionId: key, channelId: 'ch-1', deliveryId: `${prefix}-d${i}`, generation },
    });
  });
}

const idOf = (m: OutgoingMessage): string => (m.value as { eventId: string }).eventId;
const idsOfItems = (items: readonly Consumed[]): string[] => items.flatMap((i) => (i.kind === 'event' ? [i.event.eventId] : []));

/** Generations per key in the order handled (the first time each event was seen). */
function generationsPerKey(items: readonly Consumed[]): Record<string, number[]> {
  const seen = new Set<string>();
  const out: Record<string, number[]> = {};
  for (const i of items) {
    if (i.kind !== 'event' || i.event.type !== 'transaction.routed.v1' || seen.has(i.event.eventId)) continue;
    seen.add(i.event.eventId);
    (out[i.event.key] ??= []).push(i.event.data.generation);
  }
  return out;
}

type Handle = (items: Consumed[], ctx: ConsumerContext) => Promise<void>;

/** A controller with one `@EventPattern` handler, as a service declares its consumers. */
function consumer(group: string, options: ConsumerOptions, handle: Handle): Type {
  @Controller()
  class TestEventsController {
    @EventPattern(group, options)
    read(@Payload() items: Consumed[], @Ctx() ctx: ConsumerContext): Promise<void> {
      return handle(items, ctx);
    }
  }
  return TestEventsController;
}

/** A promise the test opens by hand; afterEach opens whatever a test left shut. */
const gates: Array<() => void> = [];
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  gates.push(open);
  return { promise, open };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  if (!(await pollUntil(async () => check(), timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

describe.each([
  ['kafka', makeKafka],
  ['embedded', makeEmbedded],
] as const)('MessagingServer, the Nest transport strategy: %s', (_kind, make) => {
  let world: World;
  const apps: Array<{ close(): Promise<void> }> = [];

  beforeEach(async () => {
    world = await make();
  });

  afterEach(async () => {
    for (const open of gates.splice(0)) open();
    await Promise.all(apps.splice(0).map((a) => a.close().catch(() => undefined)));
    await world?.close();
  });

  /** A hybrid app of `controllers`, started as `startService` starts one: hooks, consumer groups, (no HTTP here). */
  async function startApp(controllers: Type[], before?: (groups: ConsumerGroups) => void): Promise<{ app: INestApplication; server: MessagingServer }> {
    const server = new MessagingServer(world.transport, world.log);
    before?.(server);
    @Module({ controllers, providers: [{ provide: ConsumerGroups, useValue: server }] })
    class TestModule {}
    const app = await NestFactory.create(TestModule, new FastifyAdapter(), { logger: false });
    apps.push(app);
    connectConsumers(app, server);
    await app.init();
    await app.startAllMicroservices();
    return { app, server };
  }

  it('hands each handler call a batch of validated events in order per key, no larger than maxBatch; catchUp reads them all', async () => {
    const published = events('batch', 240, 12);
    await world.transport.publish(published);
    const group = uniqueName('g');
    const batches: Consumed[][] = [];
    const groupsSeen = new Set<string>();
    const { server } = await startApp([
      consumer(group, { topics: [TOPIC], maxBatch: 40, partitionsConcurrently: 'all' }, async (items, ctx) => {
        batches.push(items);
        groupsSeen.add(ctx.getGroup());
      }),
    ]);

    expect(await server.catchUp(group, 30_000)).toBe(true);
    const handled = batches.flat();
    expect(new Set(idsOfItems(handled))).toEqual(new Set(published.map(idOf)));
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(40);
    expect(batches.some((b) => b.length > 1)).toBe(true); // whole batches, not one call per message
    expect(Object.values(generationsPerKey(handled)).every((gens) => gens.every((g, i) => g === i + 1))).toBe(true);
    expect([...groupsSeen]).toEqual([group]);

    // Read your writes: what is published before catchUp is handled when it answers true.
    const more = events('more', 30, 5);
    await world.transport.publish(more);
    expect(await server.catchUp(group, 30_000)).toBe(true);
    expect(new Set(idsOfItems(batches.flat()))).toEqual(new Set([...published, ...more].map(idOf)));
  });

  it('retries a batch whose handler threw, acknowledging nothing meanwhile, and the transport logs the handler’s own error', async () => {
    const published = events('retry', 60, 6);
    await world.transport.publish(published);
    const failOn = idOf(published[20]);
    const thrown = new Error('the database went away');
    const attempts: string[][] = [];
    const acknowledged: Consumed[] = [];
    const group = uniqueName('g');
    const { server } = await startApp([
      consumer(group, { topics: [TOPIC] }, async (items) => {
        const ids = idsOfItems(items);
        attempts.push(ids);
        if (ids.includes(failOn) && attempts.filter((a) => a.includes(failOn)).length <= 2) throw thrown;
        acknowledged.push(...items);
      }),
    ]);

    expect(await server.catchUp(group, 30_000)).toBe(true);
    expect(attempts.filter((a) => a.includes(failOn)).length).toBe(3);
    expect(new Set(idsOfItems(acknowledged))).toEqual(new Set(published.map(idOf)));
    expect(Object.values(generationsPerKey(acknowledged)).every((gens) => gens.every((g, i) => g === i + 1))).toBe(true);
    // Not Nest's "Internal server error": the very error the handler threw, with the group.
    const logged = world.log.errors.filter((e) => e.obj.err === thrown);
    expect(logged.length).toBe(2);
    expect(logged[0].obj.group).toBe(group);
  });

  it('hands a batch again to the next instance when the consumers stop while its handler is at work', async () => {
    const published = events('stop', 90, 9);
    await world.transport.publish(published);
    const group = uniqueName('g');
    const inHand = gate();
    let blocked: string[] | null = null;
    const first = await startApp([
      consumer(group, { topics: [TOPIC] }, async (items, ctx) => {
        blocked ??= idsOfItems(items);
        // A handler that waits gives up when the consumers stop, and throws: not acknowledged.
        await Promise.race([inHand.promise, new Promise((resolve) => ctx.getSignal().addEventListener('abort', resolve))]);
        throw new Error('stopped before the work was done');
      }),
    ]);
    await eventually(() => blocked !== null, 'the first batch');
    expect(await first.server.catchUp(group, 200)).toBe(false); // the batch in hand is not acknowledged
    await first.app.close();
    expect(first.server.isRunning(group)).toBe(false);
    expect(await first.server.catchUp(group, 10)).toBe(false);

    const second: Consumed[] = [];
    const next = await startApp([
      consumer(group, { topics: [TOPIC] }, async (items) => {
        second.push(...items);
      }),
    ]);
    // A Kafka member that left hands its partitions over at once; the group's offsets say what is left.
    expect(await next.server.catchUp(group, 40_000)).toBe(true);
    expect(idsOfItems(second)).toEqual(expect.arrayContaining(blocked!));
    expect(new Set(idsOfItems(second))).toEqual(new Set(published.map(idOf)));
  });

  it('sends poison messages to waybill.dead-letters with the group and the reason, and hands the handler the valid ones', async () => {
    const [valid1, valid2] = events('poison', 2, 1);
    const key = valid1.key;
    await world.transport.publish([valid1, { topic: TOPIC, key, value: 'a JSON string, not an envelope' }, valid2]);
    const letters: DeadLetter[] = [];
    const deadReader = await world.transport.subscribe({
      group: uniqueName('dead'),
      topics: [Topics.deadLetters],
      handle: async (messages: IncomingMessage[]) => {
        letters.push(...messages.map((m) => JSON.parse(m.value as string) as DeadLetter));
      },
    });
    apps.push({ close: () => deadReader.stop() });
    const handled: Consumed[] = [];
    const group = uniqueName('g');
    const { server } = await startApp([
      consumer(group, { topics: [TOPIC] }, async (items) => {
        handled.push(...items);
      }),
    ]);

    expect(await server.catchUp(group, 30_000)).toBe(true);
    expect([...new Set(idsOfItems(handled))]).toEqual([idOf(valid1), idOf(valid2)]);
    expect(await deadReader.catchUp(30_000)).toBe(true);
    expect(letters).toEqual([
      expect.objectContaining({ group, topic: TOPIC, key, value: JSON.stringify('a JSON string, not an envelope'), reason: expect.stringMatching(/^envelope: /) }),
    ]);
  });

  it('serves several groups in one app, each reading every message, and tells a group’s partitions to its listeners', async () => {
    const published = events('two', 50, 5);
    await world.transport.publish(published);
    const [groupA, groupB] = [uniqueName('a'), uniqueName('b')];
    const a: Consumed[] = [];
    const b: Consumed[] = [];
    const assignments: Assignment[] = [];
    const { server } = await startApp(
      [
        consumer(groupA, { topics: [TOPIC], partitionsConcurrently: 'all' }, async (items) => {
          a.push(...items);
        }),
        consumer(groupB, { topics: [TOPIC], partitionsConcurrently: 2 }, async (items) => {
          b.push(...items);
        }),
      ],
      (groups) => groups.onAssignment(groupA, (assignment) => assignments.push(assignment)),
    );

    expect(await server.catchUp(groupA, 30_000)).toBe(true);
    expect(await server.catchUp(groupB, 30_000)).toBe(true);
    expect(new Set(idsOfItems(a))).toEqual(new Set(published.map(idOf)));
    expect(new Set(idsOfItems(b))).toEqual(new Set(published.map(idOf)));
    // The only member of its group: it reads every partition.
    await eventually(() => assignments.some((x) => x[TOPIC]?.length === PARTITIONS), 'the assignment');
    expect([...assignments[assignments.length - 1][TOPIC]].sort()).toEqual([0, 1, 2]);
  });

  it('refuses two handlers of one consumer group before any group joins', async () => {
    const group = uniqueName('g');
    const ignore: Handle = async () => undefined;
    await expect(startApp([consumer(group, { topics: [TOPIC] }, ignore), consumer(group, { topics: [TOPIC] }, ignore)])).rejects.toThrow(
      `two @EventPattern handlers read the consumer group '${group}'`,
    );
  });

  it('answers catchUp with false for a group that is not running: before the consumers start', async () => {
    const group = uniqueName('g');
    const server = new MessagingServer(world.transport, world.log);
    expect(await server.catchUp(group, 10)).toBe(false);
    expect(server.isRunning(group)).toBe(false);
  });

  it('retries a failing handler in a plain Nest microservice too, without the filter that keeps the error (Nest answers an erroring Observable)', async () => {
    const published = events('plain', 10, 2);
    await world.transport.publish(published);
    const group = uniqueName('g');
    let failures = 0;
    const acknowledged: Consumed[] = [];
    const server = new MessagingServer(world.transport, world.log);
    @Module({
      controllers: [
        consumer(group, { topics: [TOPIC] }, async (items) => {
          if (failures++ === 0) throw new Error('first call fails');
          acknowledged.push(...items);
        }),
      ],
    })
    class PlainModule {}
    const app = await NestFactory.createMicroservice(PlainModule, { strategy: server, logger: false });
    apps.push(app);
    await app.listen();

    expect(await server.catchUp(group, 30_000)).toBe(true);
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(new Set(idsOfItems(acknowledged))).toEqual(new Set(published.map(idOf)));
  });

  it('emits through MessagingClient: the event reaches a handler; send() (request and reply) fails', async () => {
    const handled: Consumed[] = [];
    const group = uniqueName('g');
    const { server } = await startApp([
      consumer(group, { topics: [TOPIC], types: ['transaction.routed.v1'] }, async (items) => {
        handled.push(...items);
      }),
    ]);
    const client = new MessagingClient(world.transport);
    const data = { transactionId: 'tx-emitted', channelId: 'ch-1', deliveryId: 'd-emitted', generation: 1 };
    await lastValueFrom(client.emit('transaction.routed.v1', { orgId: 'org-1', key: 'tx-emitted', data }), { defaultValue: undefined });

    expect(await server.catchUp(group, 30_000)).toBe(true);
    expect(handled).toEqual([expect.objectContaining({ kind: 'event', event: expect.objectContaining({ type: 'transaction.routed.v1', key: 'tx-emitted', data }) })]);
    await expect(lastValueFrom(client.send('transaction.routed.v1', data))).rejects.toThrow('no replies');
  });
});
