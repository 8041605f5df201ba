import { MigrationInterface, QueryRunner } from 'typeorm';

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
    await q.query(`
      CREATE TABLE processed_events (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE processed_events');
    await q.query('DROP TABLE outbox');
  }
}
