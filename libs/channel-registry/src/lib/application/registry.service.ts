import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { eventMessage, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { decodeCursor, generateApiKey, LOGGER, newId, Page, Problems, toPage, TRANSPORT } from '@waybill/platform';
import { commitWithEvents } from '@waybill/messaging';
import { REGISTRY_DB, REGISTRY_SCHEMA } from './registry.database';
import { ApiKeyUsage } from './api-key-usage';

interface ApiKeyRow {
  id: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
}

export interface ApiKeyView {
  id: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** `GET /v1/organization`. */
export interface OrganizationView {
  id: string;
  name: string;
  createdAt: string;
  apiKey: { id: string; prefix: string };
}

/** Organisations and their API keys. */
@Injectable()
export class RegistryService {
  private readonly outbox: Outbox;

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly usage: ApiKeyUsage,
  ) {
    this.outbox = transport.outbox(REGISTRY_SCHEMA);
  }

  async createOrganization(name: string): Promise<{ id: string; name: string; apiKey: string; createdAt: string }> {
    const id = newId('org');
    const now = new Date();
    const apiKey = await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      await em.query('INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)', [id, name, now]);
      return this.insertApiKey(em, id, now, emit);
    });
    this.log.info({ orgId: id }, 'organisation created');
    return { id, name, apiKey: apiKey.key, createdAt: now.toISOString() };
  }

  /** The first run's organisation: created when none exists; its key is returned only then. */
  async ensureFirstOrganization(name = 'Default organization'): Promise<{ id: string; apiKey: string } | null> {
    return this.db.transaction(async (em) => {
      // Two instances starting at once on an empty database create one organisation.
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('waybill.registry.first-organization'))`);
      const [{ count }] = await em.query('SELECT count(*)::int AS count FROM organizations');
      if (count > 0) return null;
      const org = await this.createOrganization(name);
      return { id: org.id, apiKey: org.apiKey };
    });
  }

  /** The caller's organisation, and the key the call was made with (its id and prefix, never the key). */
  async organization(orgId: string, apiKeyId: string): Promise<OrganizationView> {
    const rows: { id: string; name: string; created_at: Date; key_prefix: string | null }[] = await this.db.query(
      `SELECT o.id, o.name, o.created_at, k.prefix AS key_prefix
         FROM organizations o LEFT JOIN api_keys k ON k.id = $2 AND k.org_id = o.id
        WHERE o.id = $1`,
      [orgId, apiKeyId],
    );
    const org = rows[0];
    if (!org) throw Problems.notFound('Organisation', orgId);
    return {
      id: org.id,
      name: org.name,
      createdAt: org.created_at.toISOString(),
      apiKey: { id: apiKeyId, prefix: org.key_prefix ?? '' },
    };
  }

  /** The organisation's keys that still work, newest first; never the key itself. */
  async listApiKeys(orgId: string, limit: number, cursor?: string): Promise<Page<ApiKeyView>> {
    await this.usage.flush(); // what this process saw used is shown at once
    const after = decodeCursor(cursor);
    const rows: ApiKeyRow[] = await this.db.query(
      `SELECT id, prefix, created_at, last_used_at FROM api_keys
        WHERE org_id = $1 AND revoked_at IS NULL
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [orgId, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(
      rows,
      limit,
      (r) => ({ at: r.created_at.toISOString(), id: r.id }),
      (r) => ({ id: r.id, prefix: r.prefix, createdAt: r.created_at.toISOString(), lastUsedAt: r.last_used_at?.toISOString() ?? null }),
    );
  }

  async issueApiKey(orgId: string): Promise<{ id: string; apiKey: string; prefix: string; createdAt: string }> {
    const now = new Date();
    const key = await commitWithEvents(this.db, this.outbox, (em, emit) => this.insertApiKey(em, orgId, now, emit));
    return { id: key.id, apiKey: key.key, prefix: key.prefix, createdAt: now.toISOString() };
  }

  /**
   * Revokes a key: `api-key.revoked.v1` on `waybill.access` tells every service's replica, which
   * forgets the key as soon as it reads it (milliseconds; API.md allows up to a second).
   */
  async revokeApiKey(orgId: string, id: string): Promise<void> {
    const now = new Date();
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      const [rows] = await em.query(
        'UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL RETURNING id',
        [id, orgId, now],
      );
      if (!rows || rows.length === 0) throw Problems.notFound('API key', id);
      emit(eventMessage('api-key.revoked.v1', { orgId, key: id, data: { apiKeyId: id, orgId, revokedAt: now.toISOString() } }, now));
    });
    this.log.info({ orgId, apiKeyId: id }, 'api key revoked');
  }

  private async insertApiKey(
    em: EntityManager,
    orgId: string,
    now: Date,
    emit: (...m: OutgoingMessage[]) => void,
  ): Promise<{ id: string; key: string; prefix: string }> {
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
      }, now),
    );
    this.log.info({ orgId, apiKeyId: id }, 'api key issued');
    return { id, key, prefix };
  }
}
