import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001 } from '@waybill/messaging';

export class CreateStatus1732370400000 implements MigrationInterface {
  name = 'CreateStatus1732370400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE transactions (
        id text PRIMARY KEY,
        org_id text NOT NULL,
        relationship_id text,
        channel_id text,
        business_number text,
        stream text,
        created_at timestamptz,
        status text NOT NULL,
        delivery_id text,
        generation int NOT NULL,
        next_attempt_at timestamptz,
        updated_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX transactions_org_created ON transactions (org_id, created_at DESC, id DESC)');
    await q.query('CREATE INDEX transactions_org_status_created ON transactions (org_id, status, created_at DESC, id DESC)');
    await q.query(`
      CREATE TABLE delivery_attempts (
        event_id uuid PRIMARY KEY,
        transaction_id text NOT NULL,
        delivery_id text NOT NULL,
        attempt int NOT NULL,
        at timestamptz NOT NULL,
        status_code int,
        outcome text NOT NULL,
        duration_ms int NOT NULL,
        error text,
        response_excerpt text
      )`);
    await q.query('CREATE INDEX delivery_attempts_transaction ON delivery_attempts (transaction_id, at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE delivery_attempts');
    await q.query('DROP TABLE transactions');
  }
}

export const STATUS_MIGRATIONS = [CreateMessagingTables1732370000001, CreateStatus1732370400000];
export const STATUS_DB = Symbol('status.db');
