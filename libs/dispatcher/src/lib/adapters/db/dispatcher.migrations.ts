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

/**
 * The parked line of each channel, the pull queue and the channels' health.
 *
 * - `parked_deliveries` becomes every channel's line: besides retries, deliveries waiting for
 *   room (a slow or busy channel), for a closed circuit or an enabled channel, and the stragglers
 *   a batch of `waybill.deliveries` handed over rather than wait for. `seq` keeps arrival order,
 *   `leased_until` marks a row in flight (taken back when the lease runs out: its taker died),
 *   `expires_at` is when its retry policy's time runs out, `batch_id` ties a batch's items.
 * - `pull_messages`: the lease queue of PULL channels, and for a day the outcome of each message
 *   (so that ack and nack are idempotent).
 * - `channel_health`: what the owner of a channel reports of it, for any instance to answer.
 */
export class DispatcherLines1732370300001 implements MigrationInterface {
  name = 'DispatcherLines1732370300001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE parked_deliveries
        ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
        ADD COLUMN leased_until timestamptz,
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN batch_id text`);
    await q.query(`UPDATE parked_deliveries SET expires_at = greatest(due_at, first_attempt_at + interval '1 hour')`);
    await q.query('ALTER TABLE parked_deliveries ALTER COLUMN expires_at SET NOT NULL');
    await q.query('DROP INDEX parked_deliveries_due');
    await q.query('CREATE INDEX parked_deliveries_line ON parked_deliveries (channel_id, due_at, seq)');
    await q.query('CREATE INDEX parked_deliveries_partition ON parked_deliveries (partition, expires_at)');
    await q.query('CREATE INDEX parked_deliveries_batch ON parked_deliveries (batch_id) WHERE batch_id IS NOT NULL');
    await q.query(`
      CREATE TABLE pull_messages (
        delivery_id text PRIMARY KEY,
        channel_id text NOT NULL,
        org_id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        request jsonb NOT NULL,
        state text NOT NULL DEFAULT 'QUEUED' CHECK (state IN ('QUEUED', 'ACCEPTED', 'REJECTED', 'FAILED')),
        attempts int NOT NULL DEFAULT 0,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        leased_until timestamptz,
        finished_at timestamptz
      )`);
    await q.query(`CREATE INDEX pull_messages_ready ON pull_messages (channel_id, seq) WHERE state = 'QUEUED' AND leased_until IS NULL`);
    await q.query(`CREATE INDEX pull_messages_leased ON pull_messages (leased_until) WHERE state = 'QUEUED' AND leased_until IS NOT NULL`);
    await q.query(`CREATE INDEX pull_messages_finished ON pull_messages (finished_at) WHERE state <> 'QUEUED'`);
    await q.query(`
      CREATE TABLE channel_health (
        channel_id text PRIMARY KEY,
        org_id text NOT NULL,
        circuit text NOT NULL,
        in_flight int NOT NULL,
        waiting int NOT NULL,
        throttled_until timestamptz,
        next_probe_at timestamptz,
        last_outcomes jsonb NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE channel_health');
    await q.query('DROP TABLE pull_messages');
    await q.query('DROP INDEX parked_deliveries_batch');
    await q.query('DROP INDEX parked_deliveries_partition');
    await q.query('DROP INDEX parked_deliveries_line');
    await q.query('CREATE INDEX parked_deliveries_due ON parked_deliveries (partition, due_at)');
    await q.query('ALTER TABLE parked_deliveries DROP COLUMN batch_id, DROP COLUMN expires_at, DROP COLUMN leased_until, DROP COLUMN seq');
  }
}

/**
 * Who holds a lease, and which dispatcher instances are alive: a new owner of a partition takes
 * back at once the rows leased by an instance that stopped beating (it crashed), instead of
 * waiting for their leases to run out.
 */
export class DispatcherInstances1732370300002 implements MigrationInterface {
  name = 'DispatcherInstances1732370300002';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE parked_deliveries ADD COLUMN leased_by text');
    await q.query('CREATE TABLE dispatcher_instances (instance_id text PRIMARY KEY, seen_at timestamptz NOT NULL)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE dispatcher_instances');
    await q.query('ALTER TABLE parked_deliveries DROP COLUMN leased_by');
  }
}

/**
 * Deliveries finished lately, with the events that record their outcome: a message read again
 * after its reader died unacknowledged is not sent again when its delivery is here — its events
 * are published again instead (consumers dedupe them by id). Unlogged: a record lost with the
 * database only means a repeat, which delivery at least once allows.
 */
export class DispatcherFinished1765100000000 implements MigrationInterface {
  name = 'DispatcherFinished1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'CREATE UNLOGGED TABLE finished_deliveries (delivery_id text PRIMARY KEY, finished_at timestamptz NOT NULL DEFAULT now(), events json NOT NULL)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE finished_deliveries');
  }
}

export const DISPATCHER_MIGRATIONS = [
  CreateMessagingTables1732370000001,
  CreateDispatcher1732370300000,
  DispatcherLines1732370300001,
  DispatcherInstances1732370300002,
  DispatcherFinished1765100000000,
];
export const DISPATCHER_DB = Symbol('dispatcher.db');
