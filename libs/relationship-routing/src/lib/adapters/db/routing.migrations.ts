import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001 } from '@waybill/messaging';

export class CreateRouting1732370200000 implements MigrationInterface {
  name = 'CreateRouting1732370200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE relationships (
        id text PRIMARY KEY,
        org_id text NOT NULL,
        version int NOT NULL,
        sender_id text NOT NULL,
        receiver_id text NOT NULL,
        transaction_type text NOT NULL,
        channel_id text,
        channel_source text,
        created_at timestamptz NOT NULL,
        CONSTRAINT relationships_natural_key UNIQUE (org_id, sender_id, receiver_id, transaction_type)
      )`);
    await q.query('CREATE INDEX relationships_org ON relationships (org_id, created_at DESC, id DESC)');
    await q.query(`
      CREATE TABLE transactions (
        id text PRIMARY KEY,
        org_id text NOT NULL,
        relationship_id text NOT NULL,
        channel_id text NOT NULL,
        generation int NOT NULL,
        header jsonb NOT NULL,
        format text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        org_id text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        transaction_id text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (org_id, key)
      )`);
    await q.query('CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['idempotency_keys', 'transactions', 'relationships']) await q.query(`DROP TABLE ${t}`);
  }
}

/**
 * One row per channel a relationship was given, the point where routing's two decisions about a
 * channel meet: assigning it to a relationship (a share lock on the row) and reporting its use to
 * a delete (an update of the row, which marks it `deleting`: no assignment after that).
 */
export class ChannelGuards1765000000200 implements MigrationInterface {
  name = 'ChannelGuards1765000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE channel_guards (
        channel_id text PRIMARY KEY,
        deleting text,
        mark_version int
      )`);
    await q.query('CREATE INDEX relationships_channel ON relationships (org_id, channel_id, id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX relationships_channel');
    await q.query('DROP TABLE channel_guards');
  }
}

export const ROUTING_MIGRATIONS = [CreateMessagingTables1732370000001, CreateRouting1732370200000, ChannelGuards1765000000200];
