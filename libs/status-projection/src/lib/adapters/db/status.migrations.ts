import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001, dropProcessedEvents } from '@waybill/messaging';
import { STATUS_SCHEMA } from '../../application/status.database';
import { deliveryCountsDdl, readModelDdl, transactionCountsDdl } from './read-model.ddl';

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
 * What the console's dashboard reads: transactions counted by organisation (not only by status),
 * attempts with their organisation, and attempts counted by organisation, minute and outcome.
 * A database made by the migration above after this change already has them (it runs the current
 * DDL), so each step looks first.
 */
export class StatusCountsByOrganization1732370400200 implements MigrationInterface {
  name = 'StatusCountsByOrganization1732370400200';

  async up(q: QueryRunner): Promise<void> {
    const s = '"status"';
    const has = async (table: string, column: string) =>
      ((await q.query(
        `SELECT 1 FROM information_schema.columns WHERE table_schema = 'status' AND table_name = $1 AND column_name = $2`,
        [table, column],
      )) as unknown[]).length > 0;
    if (!(await has('delivery_attempts', 'org_id'))) {
      await q.query(`ALTER TABLE ${s}.delivery_attempts ADD COLUMN org_id text COLLATE "C"`);
      await q.query(`UPDATE ${s}.delivery_attempts a SET org_id = t.org_id FROM ${s}.transactions t WHERE t.id = a.transaction_id`);
    }
    if (!(await has('transaction_counts', 'org_id'))) {
      await q.query(`DROP TABLE ${s}.transaction_counts`);
      await q.query(transactionCountsDdl(s));
      await q.query(
        `INSERT INTO ${s}.transaction_counts (org_id, status, shard, n) SELECT org_id, status, 0, count(*) FROM ${s}.transactions GROUP BY org_id, status`,
      );
    }
    if (!(await has('delivery_counts', 'org_id'))) {
      await q.query(deliveryCountsDdl(s));
      await q.query(
        `INSERT INTO ${s}.delivery_counts (org_id, minute, outcome, shard, n)
         SELECT org_id, date_bin('1 minute', at, timestamptz '2000-01-01 00:00:00+00'), outcome, 0, count(*)
           FROM ${s}.delivery_attempts WHERE org_id IS NOT NULL GROUP BY 1, 2, 3`,
      );
    }
  }

  async down(): Promise<void> {
    // Forward only: the read model can always be rebuilt from the log.
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

/**
 * `processed_events` (made by the messaging tables' migration in every schema) is read by no
 * consumer of the status service. Only routing's redelivery consumer dedupes through it, in routing's schema.
 */
const StatusDropProcessedEvents1766000000100 = dropProcessedEvents('StatusDropProcessedEvents1766000000100');

export const STATUS_MIGRATIONS = [
  CreateMessagingTables1732370000001,
  CreateStatus1732370400000,
  StatusReadModel1732370400100,
  StatusCountsByOrganization1732370400200,
  StatusRelationships1765000000000,
  StatusDropProcessedEvents1766000000100,
];
