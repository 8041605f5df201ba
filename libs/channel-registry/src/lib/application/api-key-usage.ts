import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { LOGGER } from '@waybill/platform';
import { REGISTRY_DB } from './registry.database';

/** How often the last uses seen are written (ms). */
export const USAGE_FLUSH_MS = 1_000;

/**
 * `lastUsedAt` of API keys, kept cheaply: a use is a map entry in memory (the latest time per key),
 * and the map is written once a second in one statement, never a write per request.
 */
@Injectable()
export class ApiKeyUsage implements OnModuleInit, OnApplicationShutdown {
  private pending = new Map<string, Date>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(REGISTRY_DB) private readonly db: DataSource,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), USAGE_FLUSH_MS);
    this.timer.unref();
  }

  /** Notes that `apiKeyId` authenticated a request at `at`. */
  record(apiKeyId: string, at = new Date()): void {
    const seen = this.pending.get(apiKeyId);
    if (!seen || seen < at) this.pending.set(apiKeyId, at);
  }

  /** Writes what was recorded so far; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0 || !this.db.isInitialized) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.db.query(
        `UPDATE api_keys k SET last_used_at = u.at
           FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
          WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
        [[...batch.keys()], [...batch.values()]],
      );
    } catch (err) {
      // Not worth failing anything for: keep the uses for the next write.
      for (const [id, at] of batch) this.record(id, at);
      this.log.warn({ err }, 'could not record api key usage; will retry');
    }
  }
}
