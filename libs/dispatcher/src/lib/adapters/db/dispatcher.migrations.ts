import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001 } from '@waybill/messaging';

/**
 * Parked deliveries: retries waiting for their due time. A row carries its partition so that only
 * the instance owning that partition of `waybill.deliveries` takes it.
 */
export class CreateDispatcher1732370300000 implements MigrationInterface {
  name = 'CreateDispatcher1732370300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE parked_deliveries (
        delivery_id text PRIMARY KEY,
        channel_id text NOT NULL,
        partition int NOT NULL,
        org_id text NOT NULL,
        next_attempt int NOT NULL,
        first_attempt_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        request jsonb NOT NULL
      )`);
    await q.query('CREATE INDEX parked_deliveries_due ON parked_deliveries (partition, due_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE parked_deliveries');
  }
}

export const DISPATCHER_MIGRATIONS = [CreateMessagingTables1732370000001, CreateDispatcher1732370300000];
export const DISPATCHER_DB = Symbol('dispatcher.db');
