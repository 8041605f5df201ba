import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The embedded transport's log. Every append records the writing transaction's id (`xid`); readers
 * only read rows whose transaction is older than every transaction still running, in (xid, seq)
 * order. So a reader sees appends in commit order and never skips a row that committed late.
 */
export class CreateEmbeddedLog1732370000000 implements MigrationInterface {
  name = 'CreateEmbeddedLog1732370000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE log (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        topic text NOT NULL,
        partition int NOT NULL,
        key text,
        value text,
        headers jsonb,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (topic, xid, seq)
      )`);
    await q.query(`
      CREATE TABLE checkpoints (
        group_id text NOT NULL,
        topic text NOT NULL,
        xid xid8 NOT NULL,
        seq bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE checkpoints');
    await q.query('DROP TABLE log');
  }
}
