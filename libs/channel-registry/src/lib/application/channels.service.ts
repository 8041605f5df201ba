import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from 'pino';
import { ChannelState, Topics } from '@waybill/contracts';
import { eventMessage, MessageTransport, Outbox, tombstone } from '@waybill/messaging';
import { SecretBox } from '@waybill/security';
import { CONFIG, decodeCursor, LOGGER, newId, Page, ProblemError, Problems, toPage, TRANSPORT, WaybillConfig } from '@waybill/platform';
import {
  ChannelDeps, changesSomething, checkChange, checkCreate, createChannel, credentialsLeftBehind, currentSigningSecret, FieldProblem,
  rotateSigningSecret, updateChannel,
} from '../domain/channel.rules';
import { deleteConflict } from '../domain/channel-deletion.rules';
import { channelView, ChannelView } from '../domain/channel.view';
import type { CreateChannelInput, UpdateChannelInput } from '../domain/channel.input';
import { commitAndPublish, commitWithEvents } from '@waybill/messaging';
import { Destinations } from './destinations';
import { RelationshipUsage } from './relationship-usage';
import { REGISTRY_DB, REGISTRY_SCHEMA } from './registry.database';
import { readSettings } from './settings.service';

/**
 * How long a delete waits for routing's count of the channel's relationships before it gives up
 * (503, the channel left as it was), ms.
 */
const USAGE_REPORT_TIMEOUT_MS = 10_000;
/** A `deleting` mark older than this was left by a delete that died midway: another may take over (ms). */
const ABANDONED_DELETE_MS = 60_000;
/** 422: a change would send the channel's credentials to a destination they were not given for. */
function credentialsRequired(problems: FieldProblem[]): ProblemError {
  return new ProblemError(
    422,
    'CREDENTIALS_REQUIRED',
    'Unprocessable',
    `Credentials stay with the destination they were given for: give ${problems.map((p) => p.path.replace(/^body\./, '')).join(' and ')} again in this request.`,
    problems,
  );
}

/** Random bytes of a new signing secret (API.md: 24–64). */
const SIGNING_SECRET_BYTES = 32;

/** Channels: create, read, change, delete, and their signing secrets. */
@Injectable()
export class ChannelsService {
  private readonly outbox: Outbox;
  private readonly deps: ChannelDeps;
  private readonly production: boolean;

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    @Inject(CONFIG) config: WaybillConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly secrets: SecretBox,
    private readonly destinations: Destinations,
    private readonly usage: RelationshipUsage,
  ) {
    this.outbox = transport.outbox(REGISTRY_SCHEMA);
    this.production = config.env === 'production';
    this.deps = {
      seal: (s) => this.secrets.encrypt(s),
      newSigningSecret: () => `whsec_${randomBytes(SIGNING_SECRET_BYTES).toString('base64')}`,
    };
  }

  async create(orgId: string, input: CreateChannelInput): Promise<ChannelView> {
    const problems = checkCreate(input, this.production);
    if (problems.length === 0) {
      problems.push(
        ...(await this.destinations.check([
          { path: 'body.url', url: input.type === 'HTTP' ? input.url : null },
          { path: 'body.auth.tokenUrl', url: input.auth.type === 'OAUTH2_CLIENT_CREDENTIALS' ? input.auth.tokenUrl : null },
        ])),
      );
    }
    if (problems.length > 0) throw Problems.invalid(problems);
    const now = new Date();
    const { state, signingSecret } = createChannel(input, { id: newId('ch'), orgId, now }, this.deps);
    await commitWithEvents(this.db, this.outbox, async (em, emit) => {
      await em.query('INSERT INTO channels (id, org_id, version, state, created_at) VALUES ($1, $2, $3, $4, $5)', [
        state.id, orgId, state.version, state, now,
      ]);
      emit(eventMessage('channel.upserted.v1', { orgId, key: state.id, data: state }, now));
    });
    this.log.info({ orgId, channelId: state.id }, 'channel created');
    return channelView(state, signingSecret);
  }

  async get(orgId: string, id: string): Promise<ChannelView> {
    return channelView(await this.load(this.db.manager, orgId, id));
  }

  async list(orgId: string, limit: number, cursor?: string): Promise<Page<ChannelView>> {
    const after = decodeCursor(cursor);
    const rows: { state: ChannelState; created_at: Date; id: string }[] = await this.db.query(
      `SELECT id, state, created_at FROM channels
        WHERE org_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::text))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [orgId, after?.at ?? null, after?.id ?? null, limit + 1],
    );
    return toPage(rows, limit, (r) => ({ at: r.created_at.toISOString(), id: r.id }), (r) => channelView(r.state));
  }

  /**
   * Applies a change and publishes the channel's new state: every attempt the dispatcher makes
   * after it reads the state uses it (retries of earlier transactions included).
   */
  async update(orgId: string, id: string, change: UpdateChannelInput): Promise<ChannelView> {
    const current = await this.load(this.db.manager, orgId, id);
    const problems = checkChange(current, change, this.production);
    if (problems.length === 0) {
      problems.push(
        ...(await this.destinations.check([
          { path: 'body.url', url: change.url },
          { path: 'body.auth.tokenUrl', url: change.auth?.type === 'OAUTH2_CLIENT_CREDENTIALS' ? change.auth.tokenUrl : null },
        ])),
      );
    }
    if (problems.length > 0) throw Problems.invalid(problems);
    const leftBehind = credentialsLeftBehind(current, change);
    if (leftBehind.length > 0) throw credentialsRequired(leftBehind);
    const now = new Date();
    const result = await commitAndPublish(this.db, this.outbox, async (em, emit) => {
      const state = await this.load(em, orgId, id, true);
      // Checked again under the lock: another change may have landed since the first look.
      const late = checkChange(state, change, this.production);
      if (late.length > 0) throw Problems.invalid(late);
      const lateLeftBehind = credentialsLeftBehind(state, change);
      if (lateLeftBehind.length > 0) throw credentialsRequired(lateLeftBehind);
      const next = updateChannel(state, change, now, this.deps);
      if (!changesSomething(state, next.state)) return { value: { state, signingSecret: null } };
      await this.save(em, next.state);
      emit(eventMessage('channel.upserted.v1', { orgId, key: id, data: next.state }, now));
      return { value: next };
    });
    return channelView(result.state, result.signingSecret);
  }

  /**
   * Deletes a channel that nothing uses: no relationship, and neither default nor alert channel.
   * Leaves a tombstone on `waybill.channels`, so that every replica forgets it.
   *
   * Relationships are routing's, which gives them channels while this decides; so that the two
   * decisions never both succeed, a delete is a short protocol over the messaging port:
   * 1. Refuse at once (409) what this replica of `waybill.relationships`, caught up, already shows
   *    in use, or what the settings name. Else mark the channel `deleting` (`channel.upserted.v1`).
   * 2. Routing, reading the mark, stops giving the channel to relationships, then counts those
   *    that have it, and reports the count (`channel.usage-reported.v1`; see routing's
   *    `ChannelDeletions`). No relationship can take the channel after the count.
   * 3. On a count of none (and settings that still do not name it), delete; else clear the mark
   *    and answer 409 with routing's list — or 503 when no count came in time (routing down).
   */
  async delete(orgId: string, id: string): Promise<void> {
    await this.load(this.db.manager, orgId, id); // 404 before anything else
    await this.usage.catchUp();
    const requestId = newId('del');
    const marked = new Date();
    await commitAndPublish(this.db, this.outbox, async (em, emit) => {
      // Settings first, then the channel: the order settings changes take too, so they never deadlock.
      const settings = await readSettings(em, orgId, true);
      const state = await this.load(em, orgId, id, true);
      const users = await this.usage.usersOf(em, orgId, id);
      const conflict = deleteConflict(id, settings, users.ids, users.count);
      if (conflict) throw Problems.conflict('CHANNEL_IN_USE', conflict);
      if (state.deleting && marked.getTime() - Date.parse(state.deleting.since) < ABANDONED_DELETE_MS) {
        throw Problems.conflict('CHANNEL_BEING_DELETED', `Channel ${id} is being deleted by another request.`);
      }
      const next: ChannelState = { ...state, version: state.version + 1, deleting: { requestId, since: marked.toISOString() } };
      await this.save(em, next);
      emit(eventMessage('channel.upserted.v1', { orgId, key: id, data: next }, marked));
      return { value: undefined };
    });

    const report = await this.usage.report(id, requestId, USAGE_REPORT_TIMEOUT_MS);

    const outcome = await commitWithEvents(this.db, this.outbox, async (em, emit): Promise<'deleted' | 'gone' | ProblemError> => {
      const settings = await readSettings(em, orgId, true);
      const rows: { state: ChannelState }[] = await em.query('SELECT state FROM channels WHERE id = $1 AND org_id = $2 FOR UPDATE', [id, orgId]);
      const state = rows[0]?.state;
      if (!state) return 'gone';
      if (state.deleting?.requestId !== requestId) {
        return Problems.conflict('CHANNEL_BEING_DELETED', `Channel ${id} is being deleted by another request.`);
      }
      const conflict = report && deleteConflict(id, settings, report.relationshipIds, report.count);
      if (report && !conflict) {
        await em.query('DELETE FROM channels WHERE id = $1 AND org_id = $2', [id, orgId]);
        await this.usage.forgetReports(em, id);
        emit(tombstone(Topics.channels, id));
        return 'deleted';
      }
      // Refused: the mark goes, and routing lets relationships take the channel again.
      const { deleting: _cleared, ...rest } = state;
      const next: ChannelState = { ...rest, version: state.version + 1 };
      await this.save(em, next);
      await this.usage.forgetReports(em, id);
      emit(eventMessage('channel.upserted.v1', { orgId, key: id, data: next }, new Date()));
      return conflict
        ? Problems.conflict('CHANNEL_IN_USE', conflict)
        : Problems.unavailable('Routing did not report in time whether relationships use this channel; nothing was deleted, try again.', 1);
    });
    if (outcome === 'gone') throw Problems.notFound('Channel', id);
    if (outcome instanceof ProblemError) throw outcome;
    this.log.info({ orgId, channelId: id }, 'channel deleted');
  }

  /** The current signing secret in clear, for the partner that verifies signatures. */
  async signingSecret(orgId: string, id: string): Promise<{ secret: string; createdAt: string }> {
    const state = await this.load(this.db.manager, orgId, id);
    const current = this.requireSigning(state);
    return { secret: this.secrets.decrypt(current.secret), createdAt: current.createdAt };
  }

  /** Issues a new signing secret; the ones it replaces keep signing for 24 h. */
  async rotateSigningSecret(orgId: string, id: string): Promise<{ secret: string; createdAt: string; previousSecretExpiresAt: string | null }> {
    const now = new Date();
    return commitWithEvents(this.db, this.outbox, async (em, emit) => {
      const state = await this.load(em, orgId, id, true);
      this.requireSigning(state);
      const { state: next, signingSecret } = rotateSigningSecret(state, now, this.deps);
      await this.save(em, next);
      emit(eventMessage('channel.upserted.v1', { orgId, key: id, data: next }, now));
      const previous = next.signing.secrets.at(-2)?.expiresAt ?? null;
      this.log.info({ orgId, channelId: id }, 'signing secret rotated');
      return { secret: signingSecret, createdAt: now.toISOString(), previousSecretExpiresAt: previous };
    });
  }

  private requireSigning(state: ChannelState): ChannelState['signing']['secrets'][number] {
    const sealed = state.signing.enabled ? currentSigningSecret(state) : null;
    const current = state.signing.secrets.find((s) => s.secret === sealed);
    if (!current) {
      throw new ProblemError(
        409,
        'SIGNING_NOT_ENABLED',
        'Conflict',
        `Channel ${state.id} does not sign its deliveries; turn signing on first (PATCH { "signing": { "enabled": true } }).`,
      );
    }
    return current;
  }

  private async load(em: EntityManager, orgId: string, id: string, forUpdate = false): Promise<ChannelState> {
    const rows: { state: ChannelState }[] = await em.query(
      `SELECT state FROM channels WHERE id = $1 AND org_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [id, orgId],
    );
    if (rows.length === 0) throw Problems.notFound('Channel', id);
    return rows[0].state;
  }

  private async save(em: EntityManager, state: ChannelState): Promise<void> {
    await em.query('UPDATE channels SET version = $2, state = $3 WHERE id = $1', [state.id, state.version, state]);
  }
}
