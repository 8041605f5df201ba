import { v7 as uuidv7 } from 'uuid';
import type { DataSource, EntityManager } from 'typeorm';
import { EventData, EventType, makeEvent, topicOf } from '@waybill/contracts';
import type { Outbox, OutgoingMessage } from './transport.port';

/** The event's type, also as a message header: consumers skip what they don't read unparsed. */
export const TYPE_HEADER = 'waybill-type';

/** An event ready to publish: a fresh UUIDv7 id, the time now, on its type's topic. */
export function eventMessage<T extends EventType>(
  type: T,
  fields: { orgId: string; key: string; data: EventData<T> },
  now: Date = new Date(),
): OutgoingMessage {
  return {
    topic: topicOf(type),
    key: fields.key,
    value: makeEvent(type, { eventId: uuidv7(), occurredAt: now.toISOString(), ...fields }),
    headers: { [TYPE_HEADER]: type },
  };
}

/** A tombstone: the compacted topic forgets `key`. */
export function tombstone(topic: string, key: string): OutgoingMessage {
  return { topic, key, value: null };
}

/**
 * Runs `work` in one database transaction and appends what it emits to the outbox in that same
 * transaction; once committed, waits (bounded) until consumers can see it, so that the caller's
 * answer holds for every later call (read your writes).
 */
export function commitWithEvents<T>(
  ds: DataSource,
  outbox: Outbox,
  work: (em: EntityManager, emit: (...messages: OutgoingMessage[]) => void) => Promise<T>,
): Promise<T> {
  return commitAndPublish(ds, outbox, async (em, emit) => ({ value: await work(em, emit) }));
}

/**
 * {@link commitWithEvents}, but the wait for the outbox is skipped when there is nothing to wait
 * for: the work emitted nothing and does not ask for it (`flush: true` asks — an Idempotency-Key
 * replay must not answer before the first request's events are visible).
 */
export async function commitAndPublish<T>(
  ds: DataSource,
  outbox: Outbox,
  work: (em: EntityManager, emit: (...messages: OutgoingMessage[]) => void) => Promise<{ value: T; flush?: boolean }>,
): Promise<T> {
  let topics: string[] = [];
  const { value, flush } = await ds.transaction(async (em) => {
    const messages: OutgoingMessage[] = [];
    const result = await work(em, (...m) => messages.push(...m));
    await outbox.append(em, messages);
    topics = [...new Set(messages.map((m) => m.topic))];
    return result;
  });
  if (topics.length > 0 || flush) await outbox.flush(undefined, topics);
  return value;
}
