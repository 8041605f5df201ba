import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { eventMessage, MessageTransport, Outbox } from '@waybill/messaging';
import { commitAndPublish } from '@waybill/messaging';
import { Problems, TRANSPORT } from '@waybill/platform';
import type { OrgSettingsState } from '../domain/channel-deletion.rules';
import { REGISTRY_DB, REGISTRY_SCHEMA } from './registry.database';

export type SettingName = 'defaultInboundChannelId' | 'alertChannelId';
const COLUMN: Record<SettingName, string> = { defaultInboundChannelId: 'default_inbound_channel_id', alertChannelId: 'alert_channel_id' };

/** An organisation's settings, in the caller's transaction; `lock` takes the row for a decision. */
export async function readSettings(em: EntityManager, orgId: string, lock = false): Promise<OrgSettingsState> {
  // A row to lock even before the first setting: a concurrent first set then waits for the decision.
  if (lock) await em.query('INSERT INTO settings (org_id) VALUES ($1) ON CONFLICT (org_id) DO NOTHING', [orgId]);
  const rows: { default_inbound_channel_id: string | null; alert_channel_id: string | null }[] = await em.query(
    `SELECT default_inbound_channel_id, alert_channel_id FROM settings WHERE org_id = $1${lock ? ' FOR UPDATE' : ''}`,
    [orgId],
  );
  return { defaultInboundChannelId: rows[0]?.default_inbound_channel_id ?? null, alertChannelId: rows[0]?.alert_channel_id ?? null };
}

/**
 * The default inbound channel (what a relationship created without a channel gets) and the alert
 * channel. Each change publishes the whole settings as `org.settings-changed.v1` on
 * `waybill.channels`, which routing and the dispatcher replicate.
 */
@Injectable()
export class SettingsService {
  private readonly outbox: Outbox;

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
  ) {
    this.outbox = transport.outbox(REGISTRY_SCHEMA);
  }

  get(orgId: string): Promise<OrgSettingsState> {
    return readSettings(this.db.manager, orgId);
  }

  /** Sets (or with null clears) one setting to one of the organisation's channels. */
  async set(orgId: string, name: SettingName, channelId: string | null): Promise<OrgSettingsState> {
    return commitAndPublish(this.db, this.outbox, async (em, emit) => {
      const current = await readSettings(em, orgId, true);
      if (channelId !== null) {
        // FOR SHARE: the channel cannot be deleted until this commits (a delete checks the settings after).
        const found: unknown[] = await em.query('SELECT 1 FROM channels WHERE id = $1 AND org_id = $2 FOR SHARE', [channelId, orgId]);
        if (found.length === 0) throw Problems.notFound('Channel', channelId);
      }
      if (current[name] === channelId) return { value: current };
      await em.query(`UPDATE settings SET ${COLUMN[name]} = $2 WHERE org_id = $1`, [orgId, channelId]);
      const next = { ...current, [name]: channelId };
      emit(eventMessage('org.settings-changed.v1', { orgId, key: orgId, data: { orgId, ...next } }));
      return { value: next };
    });
  }
}
