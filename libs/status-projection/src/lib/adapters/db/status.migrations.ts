import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001 } from '@waybill/messaging';
import { readModelDdl, STATUS_SCHEMA } from './read-model.ddl';

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

/**
 * The read model as it is now (order-free facts, every event kept, list indexes), alerts, and the
 * redelivery sweeps. The first read model is dropped rather than converted: it kept no events, so
 * it cannot be converted; the projection reads the log again from the start under a new consumer
 * group (`PROJECTION_GROUP`), which is how a read model changes shape.
 */
export class StatusReadModel1732370400100 implements MigrationInterface {
  name = 'StatusReadModel1732370400100';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE IF EXISTS delivery_attempts');
    await q.query('DROP TABLE IF EXISTS transactions');
    for (const statement of readModelDdl(STATUS_SCHEMA)) await q.query(statement);
    await q.query(`
      CREATE TABLE alerts (
        id uuid PRIMARY KEY,
        org_id text COLLATE "C" NOT NULL,
        channel_id text COLLATE "C" NOT NULL,
        type text COLLATE "C" NOT NULL,
        at timestamptz NOT NULL,
        data jsonb NOT NULL
      )`);
    await q.query('CREATE INDEX alerts_by_org ON alerts (org_id, at DESC, id DESC)');
    await q.query('CREATE INDEX alerts_by_channel ON alerts (org_id, channel_id, at DESC, id DESC)');
    await q.query(`
      CREATE TABLE redelivery_sweeps (
        id text PRIMARY KEY,
        org_id text NOT NULL,
        filter jsonb NOT NULL,
        count int NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE redelivery_sweep_items (
        sweep_id text NOT NULL,
        transaction_id text NOT NULL,
        org_id text NOT NULL,
        status text NOT NULL,
        PRIMARY KEY (sweep_id, transaction_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['redelivery_sweep_items', 'redelivery_sweeps', 'alerts', 'transaction_events', 'delivery_attempts', 'transactions']) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}

/**
 * The status service's replica of `waybill.relationships` (which relationship has which channel):
 * a redelivery of a transaction whose relationship is gone or has no channel is refused up front
 * (422) instead of being asked of routing. Filled by its own consumer group from the topic's start.
 */
export class StatusRelationships1765000000000 implements MigrationInterface {
  name = 'StatusRelationships1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE relationships (
        relationship_id text PRIMARY KEY,
        org_id text NOT NULL,
        channel_id text,
        version int NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE relationships');
  }
}

export const STATUS_MIGRATIONS = [
  CreateMessagingTables1732370000001,
  CreateStatus1732370400000,
  StatusReadModel1732370400100,
  StatusRelationships1765000000000,
];
export const STATUS_DB = Symbol('status.db');
