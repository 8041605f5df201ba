import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import type { Logger } from 'pino';
import { Topics } from '@waybill/contracts';
import { MessageTransport, subscribeEvents, Subscription } from '@waybill/messaging';
import { openServiceDataSource, quoteIdent } from '@waybill/persistence';
import { CONFIG, LOGGER, ProblemError, TRANSPORT, WaybillConfig } from '@waybill/platform';
import { READ_MODEL, ReadModel } from '../projection/read-model.port';
import { transactionEventsOf } from '../projection/projection.service';
import { STATUS_SCHEMA } from '../status.database';

/** Where a rebuild folds the log into a fresh read model before it is switched in. */
export const REBUILD_SCHEMA = 'status_rebuild';
/** Where the read model a rebuild replaced is moved, before it is dropped. */
export const RETIRED_SCHEMA = 'status_retired';

/** How long the switch may hold the live tables while the new model reads the last events (ms). */
const SWITCH_CATCH_UP_MS = 10_000;
const SWITCH_ATTEMPTS = 5;
const LOCK = 'waybill.status.rebuild';
const LOCK_NOT_AVAILABLE = '55P03';
const DEADLOCK = '40P01';
const UNDEFINED_TABLE = '42P01';

export type RebuildPhase = 'IDLE' | 'REPLAYING' | 'SWITCHING' | 'DONE' | 'FAILED';

export interface RebuildState {
  phase: RebuildPhase;
  startedAt: string | null;
  finishedAt: string | null;
  /** Events folded into the new read model so far. */
  eventsApplied: number;
  /** Transactions in the read model once switched. */
  transactions: number | null;
  error: string | null;
}

export interface RebuildOptions {
  /** Keep the replaced read model in `status_retired` instead of dropping it. */
  keepPrevious?: boolean;
}

/**
 * Rebuilds the read model from the whole log, then switches to it, while the service keeps
 * serving and projecting:
 *
 * 1. creates empty read-model tables in `status_rebuild`;
 * 2. replays `waybill.transaction-events` (and `waybill.redelivery-requests`) from the start into them, with a reader of its own (no
 *    stored position) and the same writer as the live projection, until it has caught up;
 * 3. switches, in one database transaction: locks the live tables (the live projection's next
 *    batch and the reads wait), lets the new model read what was published meanwhile, and moves the
 *    live tables out of `status` and the new ones in;
 * 4. drops the old tables (or keeps them in `status_retired`).
 *
 * Nothing is lost or applied twice across the switch: whatever the live projection committed before
 * the lock was on the log before the new model's last catch-up, so the new model has it; whatever
 * it reads after the switch it applies to the new tables, where the events it finds already stored
 * (the dedupe record) are skipped — and the fold is order-free, so applying the rest late gives the
 * same rows. A blocked live batch resolves the table names again once the lock is released, so it
 * writes to the new tables. One rebuild runs at a time in a deployment (an advisory lock).
 *
 * It uses its own small connection pool: the live projection's connections may all be waiting on
 * the switch's lock while the new model still has to write.
 */
@Injectable()
export class ProjectionRebuild implements OnApplicationShutdown {
  private state: RebuildState = { phase: 'IDLE', startedAt: null, finishedAt: null, eventsApplied: 0, transactions: null, error: null };
  private running: Promise<void> | null = null;
  private readonly abort = new AbortController();

  constructor(
    @Inject(CONFIG) private readonly config: WaybillConfig,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(READ_MODEL) private readonly readModel: ReadModel,
  ) {}

  status(): RebuildState {
    return { ...this.state };
  }

  /** Starts a rebuild in the background; 409 while one runs. */
  start(options: RebuildOptions = {}): RebuildState {
    if (this.running) throw new ProblemError(409, 'REBUILD_RUNNING', 'Conflict', 'A rebuild of the read model is already running.');
    this.state = { phase: 'REPLAYING', startedAt: new Date().toISOString(), finishedAt: null, eventsApplied: 0, transactions: null, error: null };
    this.running = this.run(options)
      .then(
        (transactions) => {
          this.state = { ...this.state, phase: 'DONE', transactions, finishedAt: new Date().toISOString() };
          this.log.info({ rebuild: this.state }, 'read model rebuilt and switched');
        },
        (err: Error) => {
          this.state = { ...this.state, phase: 'FAILED', error: err.message, finishedAt: new Date().toISOString() };
          this.log.error({ err }, 'read model rebuild failed; the live read model is unchanged');
        },
      )
      .finally(() => (this.running = null));
    return this.status();
  }

  /** Resolves when the running rebuild (if any) has ended. */
  async settled(): Promise<RebuildState> {
    await this.running;
    return this.status();
  }

  async onApplicationShutdown(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(options: RebuildOptions): Promise<number> {
    if (!this.config.databaseUrl) throw new Error('no database configured');
    const db = await openServiceDataSource({
      url: this.config.databaseUrl,
      schema: STATUS_SCHEMA,
      poolSize: Math.min(this.transport.partitions, 8) + 2,
      applicationName: 'waybill-status-rebuild',
    });
    // Its failures are handled here (a batch caught by the switch is expected); TypeORM need not print them.
    db.setOptions({ logging: false });
    const lock = db.createQueryRunner();
    let subscription: Subscription | null = null;
    let switched = false;
    try {
      await lock.connect();
      const [{ ok }]: { ok: boolean }[] = await lock.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [LOCK]);
      if (!ok) throw new Error('another instance is rebuilding the read model');
      try {
        await this.createFreshModel(db);
        subscription = await subscribeEvents(this.transport, this.log, {
          group: 'waybill.status-projection.rebuild',
          topics: [Topics.transactionEvents, Topics.redeliveryRequests],
          ephemeral: true,
          fromBeginning: true,
          partitionsConcurrently: this.transport.partitions,
          handle: async (items) => {
            const events = transactionEventsOf(items);
            if (events.length === 0 || switched) return;
            try {
              const batch = await db.transaction((em) => this.readModel.apply(em, REBUILD_SCHEMA, events, items[0].message.partition));
              this.state.eventsApplied += batch.events.length;
            } catch (err) {
              // A batch read after the last catch-up, caught by the tables moving: the live
              // projection applies these events (it has not read them yet).
              if (switched || (this.state.phase === 'SWITCHING' && (err as { code?: string }).code === UNDEFINED_TABLE)) return;
              throw err;
            }
          },
        });
        while (!(await subscription.catchUp(2_000))) {
          this.checkAborted();
          this.log.info({ eventsApplied: this.state.eventsApplied }, 'read model rebuild: replaying');
        }
        this.checkAborted();
        this.state.phase = 'SWITCHING';
        await this.switchIn(db, subscription);
        switched = true;
        await subscription.stop();
        subscription = null;
        await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(REBUILD_SCHEMA)} CASCADE`);
        if (!options.keepPrevious) await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(RETIRED_SCHEMA)} CASCADE`);
        const [{ n }]: { n: number }[] = await db.query(`SELECT count(*)::int AS n FROM ${quoteIdent(STATUS_SCHEMA)}.transactions`);
        return n;
      } finally {
        await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK]).catch(() => undefined);
      }
    } finally {
      await subscription?.stop().catch(() => undefined);
      await lock.release().catch(() => undefined);
      await db.destroy().catch(() => undefined);
    }
  }

  private async createFreshModel(db: DataSource): Promise<void> {
    await db.transaction(async (em) => {
      await em.query(`DROP SCHEMA IF EXISTS ${quoteIdent(REBUILD_SCHEMA)} CASCADE`);
      await em.query(`CREATE SCHEMA ${quoteIdent(REBUILD_SCHEMA)}`);
      for (const statement of this.readModel.ddl(REBUILD_SCHEMA)) await em.query(statement);
    });
  }

  /** Step 3: the switch, retried when the last catch-up does not finish within its bound. */
  private async switchIn(db: DataSource, subscription: Subscription): Promise<void> {
    const live = quoteIdent(STATUS_SCHEMA);
    const fresh = quoteIdent(REBUILD_SCHEMA);
    const retired = quoteIdent(RETIRED_SCHEMA);
    await db.query(`DROP SCHEMA IF EXISTS ${retired} CASCADE`);
    for (let attempt = 1; ; attempt++) {
      this.checkAborted();
      const runner: QueryRunner = db.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await runner.query(`SET LOCAL lock_timeout = '${SWITCH_CATCH_UP_MS}ms'`);
        await runner.query(`LOCK TABLE ${this.readModel.tables.map((t) => `${live}.${t}`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
        if (!(await subscription.catchUp(SWITCH_CATCH_UP_MS))) {
          await runner.rollbackTransaction();
          if (attempt >= SWITCH_ATTEMPTS) throw new Error(`the new read model could not catch up within ${SWITCH_CATCH_UP_MS} ms`);
          continue;
        }
        await runner.query(`CREATE SCHEMA ${retired}`);
        for (const t of this.readModel.tables) await runner.query(`ALTER TABLE ${live}.${t} SET SCHEMA ${retired}`);
        for (const t of this.readModel.tables) await runner.query(`ALTER TABLE ${fresh}.${t} SET SCHEMA ${live}`);
        await runner.commitTransaction();
        return;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        // The live tables stayed busy past lock_timeout (a long read), or a deadlock: try again.
        const code = (err as { code?: string }).code;
        if ((code === LOCK_NOT_AVAILABLE || code === DEADLOCK) && attempt < SWITCH_ATTEMPTS) continue;
        throw err;
      } finally {
        await runner.release();
      }
    }
  }

  private checkAborted(): void {
    if (this.abort.signal.aborted) throw new Error('stopped: the service is shutting down');
  }
}
