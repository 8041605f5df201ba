import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { ChannelState } from '@waybill/contracts';
import { commitWithEvents, eventMessage, MessageTransport, Outbox } from '@waybill/messaging';
import { SecretBox } from '@waybill/security';
import {
  CONFIG, decodeCursor, generateApiKey, LOGGER, newId, Page, Problems, toPage, TRANSPORT, WaybillConfig,
} from '@waybill/platform';
import { REGISTRY_DB } from '../adapters/db/tokens';
import { ChannelDeps, channelView, ChannelView, checkUrl, createChannel } from '../domain/channel.rules';
import type { CreateChannelInput } from '../domain/channel.input';

export const SCHEMA = 'registry';

interface ApiKeyRow {
  id: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
}

/** Organisations, API keys and channels: the registry's commands and reads. */
@Injectable()
export class RegistryService {
  private readonly outbox: Outbox;
  private readonly deps: ChannelDeps;

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    @Inject(CONFIG) private readonly config: WaybillConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly secrets: SecretBox,
  ) {
    this.outbox = transport.outbox(SCHEMA);
    this.deps = {
      seal: (s) => this.secrets.encrypt(s),
      newSigningSecret: () => `whsec_${randomBytes(32).toString('base64')}`,
    };
  }

  async createOrganization(name: string): Promise<{ id: string; name: string; apiKey: string; createdAt: string }> {
    const id = newId('org');
    const now = new Date();
    const apiKey = await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      await em.query('INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)', [id, name, now]);
      return this.insertApiKey(em, id, now, emit);
    });
    return { id, name, apiKey: apiKey.key, createdAt: now.toISOString() };
  }

  /** The first run's organisation: created when none exists; its key is returned only then. */
  async ensureFirstOrganization(name = 'Default organization'): Promise<{ id: string; apiKey: string } | null> {
    const [{ count }] = await this.db.query('SELECT count(*)::int AS count FROM organizations');
    if (count > 0) return null;
    const org = await this.createOrganization(name);
    return { id: org.id, apiKey: org.apiKey };
  }

  async listApiKeys(orgId: string) {
    const rows: ApiKeyRow[] = await this.db.query(
      `SELECT id, prefix, created_at, last_used_at FROM api_keys
        WHERE org_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`,
      [orgId],
    );
    return {
      data: rows.map((r) => ({
        id: r.id,
        prefix: r.prefix,
        createdAt: r.created_at.toISOString(),
        lastUsedAt: r.last_used_at?.toISOString() ?? null,
      })),
    };
  }

  async issueApiKey(orgId: string): Promise<{ id: string; apiKey: string }> {
    const key = await commitWithEvents(this.db, this.outbox, (em, emit) => this.insertApiKey(em, orgId, new Date(), emit));
    return { id: key.id, apiKey: key.key };
  }

  async revokeApiKey(orgId: string, id: string): Promise<void> {
    const now = new Date();
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      const [rows] = await em.query(
        'UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL RETURNING id',
        [id, orgId, now],
      );
      if (!rows || rows.length === 0) throw Problems.notFound('API key', id);
      emit(eventMessage('api-key.revoked.v1', { orgId, key: id, data: { apiKeyId: id, orgId, revokedAt: now.toISOString() } }));
    });
  }

  async createChannel(orgId: string, input: CreateChannelInput): Promise<ChannelView> {
    const problems = checkUrl(input.type, input.url, this.config.env === 'production');
    if (problems.length > 0) throw Problems.invalid(problems);
    const now = new Date();
    const { state, signingSecret } = createChannel(input, { id: newId('ch'), orgId, now }, this.deps);
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      await em.query('INSERT INTO channels (id, org_id, version, state, created_at) VALUES ($1, $2, $3, $4, $5)', [
        state.id, orgId, state.version, state, now,
      ]);
      emit(eventMessage('channel.upserted.v1', { orgId, key: state.id, data: state }));
    });
    return channelView(state, signingSecret);
  }

  async getChannel(orgId: string, id: string): Promise<ChannelView> {
    return channelView(await this.loadChannel(orgId, id));
  }

  async listChannels(orgId: string, limit: number, cursor?: string): Promise<Page<ChannelView>> {
    const after = decodeCursor(cursor);
    const rows: { state: ChannelState; created_at: Date; id: string }[] = await this.db.query(
      `SELECT id, state, created_at FROM channels
        WHERE org_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [orgId, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => ({ at: r.created_at.toISOString(), id: r.id }), (r) => channelView(r.state));
  }

  private async loadChannel(orgId: string, id: string): Promise<ChannelState> {
    const rows: { state: ChannelState }[] = await this.db.query('SELECT state FROM channels WHERE id = $1 AND org_id = $2', [
      id, orgId,
    ]);
    if (rows.length === 0) throw Problems.notFound('Channel', id);
    return rows[0].state;
  }

  private async insertApiKey(
    em: { query: DataSource['query'] },
    orgId: string,
    now: Date,
    emit: (...m: ReturnType<typeof eventMessage>[]) => void,
  ): Promise<{ id: string; key: string }> {
    const id = newId('key');
    const { key, prefix, hash } = generateApiKey();
    await em.query('INSERT INTO api_keys (id, org_id, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
      id, orgId, prefix, hash, now,
    ]);
    emit(
      eventMessage('api-key.issued.v1', {
        orgId,
        key: id,
        data: { apiKeyId: id, orgId, keyHash: hash, prefix, createdAt: now.toISOString() },
      }),
    );
    this.log.info({ orgId, apiKeyId: id }, 'api key issued');
    return { id, key };
  }
}

