import { MigrationInterface, QueryRunner } from 'typeorm';
import { CreateMessagingTables1732370000001, dropProcessedEvents } from '@waybill/messaging';

export class CreateRegistry1732370100000 implements MigrationInterface {
  name = 'CreateRegistry1732370100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE organizations (
        id text PRIMARY KEY,
        name text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        org_id text NOT NULL REFERENCES organizations (id),
        prefix text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query('CREATE INDEX api_keys_org ON api_keys (org_id, created_at)');
    await q.query(`
      CREATE TABLE channels (
        id text PRIMARY KEY,
        org_id text NOT NULL REFERENCES organizations (id),
        version int NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX channels_org ON channels (org_id, created_at DESC, id DESC)');
    await q.query(`
      CREATE TABLE settings (
        org_id text PRIMARY KEY REFERENCES organizations (id),
        default_inbound_channel_id text,
        alert_channel_id text
      )`);
    await q.query(`
      CREATE TABLE relationship_usage (
        relationship_id text PRIMARY KEY,
        org_id text NOT NULL,
        channel_id text,
        version int NOT NULL
      )`);
    await q.query('CREATE INDEX relationship_usage_channel ON relationship_usage (channel_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['relationship_usage', 'settings', 'channels', 'api_keys', 'organizations']) await q.query(`DROP TABLE ${t}`);
  }
}

/**
 * The settings name channels by foreign key (a channel that is a default cannot be deleted, even by
 * a bug), keys are listed newest first among the ones that work, and the relationship replica is
 * read by organisation and channel.
 */
export class RegistryConstraints1732370100001 implements MigrationInterface {
  name = 'RegistryConstraints1732370100001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE settings ADD CONSTRAINT settings_default_inbound_channel_fk
      FOREIGN KEY (default_inbound_channel_id) REFERENCES channels (id)`);
    await q.query(`ALTER TABLE settings ADD CONSTRAINT settings_alert_channel_fk
      FOREIGN KEY (alert_channel_id) REFERENCES channels (id)`);
    await q.query('CREATE INDEX api_keys_org_live ON api_keys (org_id, created_at DESC, id DESC) WHERE revoked_at IS NULL');
    await q.query('DROP INDEX relationship_usage_channel');
    await q.query('CREATE INDEX relationship_usage_channel ON relationship_usage (org_id, channel_id, relationship_id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX relationship_usage_channel');
    await q.query('CREATE INDEX relationship_usage_channel ON relationship_usage (channel_id)');
    await q.query('DROP INDEX api_keys_org_live');
    await q.query('ALTER TABLE settings DROP CONSTRAINT settings_alert_channel_fk');
    await q.query('ALTER TABLE settings DROP CONSTRAINT settings_default_inbound_channel_fk');
  }
}

/** Routing's answers to channel deletes (`channel.usage-reported.v1`), read by the delete that asked. */
export class ChannelUsageReports1765000000300 implements MigrationInterface {
  name = 'ChannelUsageReports1765000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE channel_usage_reports (
        channel_id text NOT NULL,
        request_id text NOT NULL,
        count int NOT NULL,
        relationship_ids jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (channel_id, request_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE channel_usage_reports');
  }
}

/**
 * `processed_events` (made by the messaging tables' migration in every schema) is read by no
 * consumer of the registry. Only routing's redelivery consumer dedupes through it, in routing's schema.
 */
const RegistryDropProcessedEvents1766000000000 = dropProcessedEvents('RegistryDropProcessedEvents1766000000000');

export const REGISTRY_MIGRATIONS = [
  CreateMessagingTables1732370000001,
  CreateRegistry1732370100000,
  RegistryConstraints1732370100001,
  ChannelUsageReports1765000000300,
  RegistryDropProcessedEvents1766000000000,
];
