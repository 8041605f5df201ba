import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { openServiceDataSource } from '@waybill/persistence';
import { CONFIG, LOGGER } from '../tokens';
import type { WaybillConfig } from '../config/config';
import { Admission, admit, OrgCounts, rollTo } from './rate-window';

/** The schema of what the platform itself keeps in PostgreSQL (shared by every service of a deployment). */
const SCHEMA = 'platform';
/**
 * How often an instance adds its counts to the shared table and reads the others' (ms). The
 * others' counts an instance decides with are at most about this old plus a round trip.
 */
export const RATE_SYNC_MS = 100;
/** Windows (seconds) kept in the shared table; older rows are deleted. */
const KEEP_WINDOWS = 5;
const CLEANUP_EVERY = 50;

export class RateUsageTable1765000000100 implements MigrationInterface {
  name = 'RateUsageTable1765000000100';
  async up(q: QueryRunner): Promise<void> {
    // One row per organisation, one-second window and instance: what that instance admitted.
    await q.query(`
      CREATE TABLE rate_usage (
        org_id text COLLATE "C" NOT NULL,
        window_start bigint NOT NULL,
        instance text COLLATE "C" NOT NULL,
        count int NOT NULL,
        PRIMARY KEY (window_start, org_id, instance)
      )`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE rate_usage');
  }
}

/**
 * The per-organisation rate limit of the public API (`WAYBILL_RATE_LIMIT` requests per second),
 * shared by every instance of a deployment.
 *
 * A request costs a map lookup and a little arithmetic (`take`): each process counts what it
 * admits per organisation and second in memory and decides with the pure rule of
 * `rate-window.ts`. Every {@link RATE_SYNC_MS} ms while it has seen requests, one statement adds
 * its counts to `platform.rate_usage` and reads every other instance's for the current and the
 * previous second — never a database round trip on a request's way. An idle process does not
 * touch the table.
 *
 * Precision: an instance sees the others' counts as they were up to one sync period plus a round
 * trip ago, so across N instances a deployment can admit, per second, the limit plus what the
 * other instances admitted in that blind interval — about (N − 1)/N × the incoming rate × ~0.15 s
 * while the limit is being reached, and nothing more once every instance has read that it was.
 * One process alone is exact.
 */
@Injectable()
export class RateLimiter implements OnModuleInit, OnApplicationShutdown {
  private readonly counts = new Map<string, OrgCounts>();
  private readonly instance: string;
  private readonly limit: number;
  private db?: Promise<DataSource | null>;
  private timer?: NodeJS.Timeout;
  private syncing: Promise<void> | null = null;
  private syncs = 0;
  private failing = false;
  private stopped = false;

  constructor(
    @Inject(CONFIG) private readonly config: WaybillConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.limit = config.rateLimit;
    this.instance = `${config.instanceId ?? hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  onModuleInit(): void {
    if (!this.config.databaseUrl) return;
    this.timer = setInterval(() => void this.sync(), RATE_SYNC_MS);
    this.timer.unref();
  }

  /** Opened at the first exchange: a process that serves no API call never connects. */
  private database(): Promise<DataSource | null> {
    this.db ??= openServiceDataSource({
      url: this.config.databaseUrl as string,
      schema: SCHEMA,
      migrations: [RateUsageTable1765000000100],
      // Two: the migrations run on one connection while another holds their advisory lock.
      poolSize: 2,
      applicationName: 'waybill-rate-limit',
    }).catch((err: unknown) => {
      this.log.warn({ err }, 'rate limit: cannot open the shared counts; limiting what this process sees meanwhile');
      this.db = undefined; // tried again at the next exchange
      return null;
    });
    return this.db;
  }

  /**
   * Counts one request of `orgId` if it fits under the limit.
   * @returns whether it fits; when it does not, the whole seconds after which it should.
   */
  take(orgId: string, nowMs = Date.now()): Admission {
    const window = Math.floor(nowMs / 1000);
    const known = this.counts.get(orgId);
    const counts = rollTo(known, window);
    const decision = admit(counts, this.limit, nowMs);
    // In place: no allocation per call once the organisation's window is known.
    if (decision.allowed) counts.local += 1;
    if (counts !== known) this.counts.set(orgId, counts);
    return decision;
  }

  /** One exchange with the shared table now (what the timer does); for tests and shutdown. */
  sync(): Promise<void> {
    if (!this.config.databaseUrl || this.stopped) return Promise.resolve();
    this.syncing ??= this.exchange().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async exchange(): Promise<void> {
    const window = Math.floor(Date.now() / 1000);
    const orgs: string[] = [];
    const windows: number[] = [];
    const values: number[] = [];
    let active = false;
    for (const [orgId, c] of this.counts) {
      const counts = rollTo(c, window);
      if (counts.local + counts.localPrevious + counts.others + counts.othersPrevious === 0) {
        this.counts.delete(orgId);
        continue;
      }
      this.counts.set(orgId, counts);
      if (counts.local + counts.localPrevious > 0) active = true;
      // The previous window too: what was admitted in its last moments since the last exchange.
      for (const [w, value] of [[window - 1, counts.localPrevious], [window, counts.local]] as const) {
        if (value === 0) continue;
        orgs.push(orgId);
        windows.push(w);
        values.push(value);
      }
    }
    if (!active) return;
    const db = await this.database();
    if (!db) return;
    try {
      const rows: { org_id: string; window_start: string; count: number }[] = await db.query(
        `WITH mine AS (
           INSERT INTO rate_usage (org_id, window_start, instance, count)
           SELECT o, w, $4, c FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t(o, w, c)
           ON CONFLICT (window_start, org_id, instance) DO UPDATE SET count = GREATEST(rate_usage.count, EXCLUDED.count)
         )
         SELECT org_id, window_start, sum(count)::int AS count FROM rate_usage
          WHERE window_start >= $5 - 1 AND instance <> $4
          GROUP BY org_id, window_start`,
        [orgs, windows, values, this.instance, window],
      );
      this.applyOthers(rows, window);
      if (++this.syncs % CLEANUP_EVERY === 0) await db.query('DELETE FROM rate_usage WHERE window_start < $1', [window - KEEP_WINDOWS]);
      if (this.failing) this.log.info('rate limit: the shared counts are readable again');
      this.failing = false;
    } catch (err) {
      // Each instance still limits what it sees itself meanwhile.
      if (!this.failing) this.log.warn({ err }, 'rate limit: could not exchange counts with the other instances');
      this.failing = true;
    }
  }

  private applyOthers(rows: { org_id: string; window_start: string; count: number }[], window: number): void {
    const seen = new Set<string>();
    for (const row of rows) {
      const w = Number(row.window_start);
      // The clock may have moved on during the round trip: fit the counts to the current window.
      const now = Math.floor(Date.now() / 1000);
      const counts = rollTo(this.counts.get(row.org_id), now);
      if (!seen.has(row.org_id)) {
        seen.add(row.org_id);
        if (now === window) Object.assign(counts, { others: 0, othersPrevious: 0 });
      }
      if (w === now) counts.others = row.count;
      else if (w === now - 1) counts.othersPrevious = row.count;
      this.counts.set(row.org_id, counts);
    }
    for (const [orgId, counts] of this.counts) {
      if (!seen.has(orgId) && counts.window === window) this.counts.set(orgId, { ...counts, others: 0, othersPrevious: 0 });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    const db = await this.db;
    if (db?.isInitialized) await db.destroy();
  }
}
