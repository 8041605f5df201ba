import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LOGGER } from '@waybill/platform';
import { ROUTING_DB } from './routing.database';

/** How long an Idempotency-Key is kept (API.md: at least 24 h). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 3600 * 1000;
/** How often expired keys are purged (ms). */
const PURGE_EVERY_MS = 10 * 60 * 1000;
/** Rows deleted per statement: short transactions, no long lock on the table. */
const PURGE_CHUNK = 10_000;

/**
 * Purges Idempotency-Keys past their retention, in chunks, every few minutes. Several instances
 * may run it at once: each chunk skips the rows another one is deleting.
 */
@Injectable()
export class IdempotencyCleanup implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.purgeExpired().catch((err) => this.log.warn({ err }, 'idempotency key purge failed')), PURGE_EVERY_MS);
    this.timer.unref();
  }

  /** Deletes every key created before `now` − retention; resolves with how many. */
  purgeExpired(now = new Date()): Promise<number> {
    this.running ??= this.purge(new Date(now.getTime() - IDEMPOTENCY_RETENTION_MS)).finally(() => (this.running = null));
    return this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async purge(before: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const [, count]: [unknown, number] = await this.db.query(
        `DELETE FROM idempotency_keys WHERE ctid IN (
           SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT ${PURGE_CHUNK} FOR UPDATE SKIP LOCKED)`,
        [before],
      );
      total += count;
      if (count < PURGE_CHUNK) break;
    }
    if (total > 0) this.log.info({ purged: total }, 'expired idempotency keys purged');
    return total;
  }
}
