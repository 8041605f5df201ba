import { MigrationInterface, QueryRunner } from 'typeorm';

const PROCESSED_EVENTS_DDL = `
  CREATE TABLE processed_events (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
  )`;

/**
 * The messaging tables every service keeps in its own schema: the outbox (drained to Kafka by the
 * relay; unused by the embedded transport, whose log is the outbox) and the ids of the events it
 * has already handled, for consumers that must not apply an event twice.
 */
export class CreateMessagingTables1732370000001 implements MigrationInterface {
  name = 'CreateMessagingTables1732370000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        topic text NOT NULL,
        key text NOT NULL,
        value text,
        headers jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(PROCESSED_EVENTS_DDL);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE processed_events');
    await q.query('DROP TABLE outbox');
  }
}

/**
 * A migration (named `name`) that drops `processed_events` from a service's schema whose consumers
 * are idempotent by their own keys (a version, an event id as primary key) and never read it.
 */
export function dropProcessedEvents(name: string): new () => MigrationInterface {
  return class implements MigrationInterface {
    name = name;

    async up(q: QueryRunner): Promise<void> {
      await q.query('DROP TABLE IF EXISTS processed_events');
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(PROCESSED_EVENTS_DDL);
    }
  };
}
