import type { DataSource, EntityManager } from 'typeorm';
import type { DeliveryRequest } from '@waybill/contracts';
import { GroupCommit, Outbox, OutgoingMessage } from '@waybill/messaging';
import type { ChannelLine, LineStats, ParkedLineStore, ParkedRow, ParkEntry } from '../../application/engine/ports';
import type { Retry } from '../../application/engine/work';

interface Row {
  delivery_id: string;
  org_id: string;
  channel_id: string;
  partition: number;
  next_attempt: number;
  first_attempt_at: Date;
  batch_id: string | null;
  request: DeliveryRequest;
  seq: string;
  due_at: Date;
}

const RETURNING = 'delivery_id, org_id, channel_id, partition, next_attempt, first_attempt_at, batch_id, request, seq, due_at';
/** An instance that has not beaten for this long is dead: its leases are void (s). */
export const STALE_AFTER_S = 6;

/**
 * A row nobody holds: not leased, its lease ran out, or its holder is dead — never for `self`'s
 * own leases, however late its last beat: an instance whose event loop or database was too busy
 * to beat is alive, and taking its own requests in flight again would send them twice.
 * `p`: the row's alias.
 */
function claimable(self: string, p = 'parked_deliveries'): string {
  return `(${p}.leased_until IS NULL OR ${p}.leased_until <= now() OR (${p}.leased_by IS DISTINCT FROM '${self.replace(/'/g, "''")}' AND NOT EXISTS (
            SELECT 1 FROM dispatcher_instances i
             WHERE i.instance_id = ${p}.leased_by AND i.seen_at > now() - interval '${STALE_AFTER_S} seconds')))`;
}

type RowOp =
  | { kind: 'park'; entries: ParkEntry[] }
  | ({ kind: 'retry'; deliveryIds: string[] } & Retry)
  | { kind: 'delete'; deliveryIds: string[] };

/** Most row operations written in one transaction. */
const MAX_OPS = 1_000;

/**
 * `parked_deliveries`: every channel's parked line (retries, deliveries waiting for room, for the
 * circuit or for the channel to be enabled, and the ones in flight that a batch handed over).
 * Rows leave it through the owner of their partition: claimed under a lease, settled (deleted, or
 * put back for a retry), or expired when their retry policy's time ran out.
 *
 * Parking and settling are group-committed: what is asked while one transaction is on its way is
 * written together in the next (one INSERT, one UPDATE, one DELETE), and each caller's promise
 * resolves once its rows are durable. Their events are published before (at least once: a crash in
 * between repeats the attempt, never loses it).
 */
export class ParkedDeliveries implements ParkedLineStore {
  private readonly writes = new GroupCommit<RowOp, void>(
    async (ops) => {
      await this.apply(ops);
      return ops.map(() => undefined);
    },
    { maxItems: MAX_OPS },
  );
  /** See {@link claimable}, for this instance. */
  private readonly claimable: string;

  constructor(
    private readonly ds: DataSource,
    private readonly outbox: Outbox,
    /** This instance: the holder of the leases it takes. */
    private readonly instanceId: string,
  ) {
    this.claimable = claimable(instanceId);
  }

  /** Says this instance is alive (its leases hold); forgets instances gone for a day. */
  async beat(): Promise<void> {
    await this.ds.query(
      `WITH gone AS (DELETE FROM dispatcher_instances WHERE seen_at < now() - interval '1 day')
       INSERT INTO dispatcher_instances (instance_id, seen_at) VALUES ($1, now())
       ON CONFLICT (instance_id) DO UPDATE SET seen_at = now()`,
      [this.instanceId],
    );
  }

  /** Parks `entries` (a row that exists is updated). */
  park(entries: ParkEntry[]): Promise<void> {
    return entries.length === 0 ? Promise.resolve() : this.writes.submit({ kind: 'park', entries });
  }

  /** Ends an attempt of parked rows: deletes them (final), or puts them back for their next attempt (`retry`). */
  settle(deliveryIds: string[], retry: Retry | null): Promise<void> {
    if (deliveryIds.length === 0) return Promise.resolve();
    return this.writes.submit(retry ? { kind: 'retry', deliveryIds, ...retry } : { kind: 'delete', deliveryIds });
  }

  private async apply(ops: RowOp[]): Promise<void> {
    // Later operations on a delivery win (a park updated by a later park).
    const parks = new Map<string, ParkEntry>();
    const retries: Extract<RowOp, { kind: 'retry' }>[] = [];
    const deletes: string[] = [];
    for (const op of ops) {
      if (op.kind === 'park') for (const e of op.entries) parks.set(e.delivery.request.deliveryId, e);
      else if (op.kind === 'retry') retries.push(op);
      else deletes.push(...op.deliveryIds);
    }
    const run = async (em: EntityManager) => {
      if (parks.size > 0) await this.insert(em, [...parks.values()]);
      if (retries.length > 0) {
        const ids = retries.flatMap((r) => r.deliveryIds);
        const each = <T>(f: (r: (typeof retries)[number]) => T): T[] => retries.flatMap((r) => r.deliveryIds.map(() => f(r)));
        await em.query(
          `UPDATE parked_deliveries p SET next_attempt = r.attempt, due_at = r.due_at, expires_at = r.expires_at, leased_until = NULL, leased_by = NULL
             FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[]) AS r(delivery_id, attempt, due_at, expires_at)
            WHERE p.delivery_id = r.delivery_id`,
          [ids, each((r) => r.attempt), each((r) => r.dueAt), each((r) => r.expiresAt)],
        );
      }
      if (deletes.length > 0) await em.query('DELETE FROM parked_deliveries WHERE delivery_id = ANY($1)', [deletes]);
    };
    const statements = (parks.size > 0 ? 1 : 0) + (retries.length > 0 ? 1 : 0) + (deletes.length > 0 ? 1 : 0);
    if (statements === 1) await run(this.ds.manager);
    else await this.ds.transaction(run);
  }

  /** Takes up to `limit` due rows of a channel, in line order, leased until `leasedUntil`. */
  async claim(channelId: string, limit: number, leasedUntil: Date): Promise<ParkedRow[]> {
    const [rows]: [Row[], number] = await this.ds.query(
      `UPDATE parked_deliveries SET leased_until = $3, leased_by = $4
        WHERE delivery_id IN (
          SELECT delivery_id FROM parked_deliveries
           WHERE channel_id = $1 AND due_at <= now() AND ${this.claimable}
           ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING ${RETURNING}`,
      [channelId, limit, leasedUntil, this.instanceId],
    );
    return inLineOrder(rows).map(toParked);
  }

  /** Takes up to `limit` due batches (formed earlier, waiting for a retry) of a channel, whole. */
  async claimBatches(channelId: string, limit: number, leasedUntil: Date): Promise<ParkedRow[][]> {
    const [rows]: [Row[], number] = await this.ds.query(
      `WITH due AS (
         SELECT batch_id FROM parked_deliveries
          WHERE channel_id = $1 AND batch_id IS NOT NULL AND due_at <= now() AND ${this.claimable}
          GROUP BY batch_id ORDER BY min(due_at), min(seq) LIMIT $2)
       UPDATE parked_deliveries p SET leased_until = $3, leased_by = $4
         FROM due WHERE p.batch_id = due.batch_id AND ${claimable(this.instanceId, 'p')}
       RETURNING ${RETURNING.split(', ').map((c) => `p.${c}`).join(', ')}`,
      [channelId, limit, leasedUntil, this.instanceId],
    );
    const batches = new Map<string, Row[]>();
    for (const r of inLineOrder(rows)) batches.set(r.batch_id as string, [...(batches.get(r.batch_id as string) ?? []), r]);
    return [...batches.values()].map((b) => b.map(toParked));
  }

  /**
   * Forms a new batch of a batching channel from the oldest rows that have none yet — once there
   * are `maxItems` of them, or the oldest has waited `maxWaitMs` — of one format. When not ready,
   * says when the oldest will have waited long enough.
   */
  async claimLoose(
    channelId: string,
    batch: { maxItems: number; maxWaitMs: number },
    batchId: string,
    leasedUntil: Date,
  ): Promise<{ rows: ParkedRow[]; readyAt: number | null }> {
    return this.ds.transaction(async (em) => {
      const head: { delivery_id: string; format: string; ready: boolean; ready_at: Date }[] = await em.query(
        `SELECT delivery_id, request->>'format' AS format,
                first_attempt_at + make_interval(secs => $3 / 1000.0) <= now() AS ready,
                first_attempt_at + make_interval(secs => $3 / 1000.0) AS ready_at
           FROM parked_deliveries
          WHERE channel_id = $1 AND batch_id IS NULL AND due_at <= now() AND ${this.claimable}
          ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [channelId, batch.maxItems, batch.maxWaitMs],
      );
      if (head.length === 0) return { rows: [], readyAt: null };
      if (head.length < batch.maxItems && !head.some((h) => h.ready)) {
        return { rows: [], readyAt: Math.min(...head.map((h) => h.ready_at.getTime())) };
      }
      const format = head[0].format;
      const cut = head.findIndex((h) => h.format !== format);
      const ids = (cut === -1 ? head : head.slice(0, cut)).map((h) => h.delivery_id);
      const [rows]: [Row[], number] = await em.query(
        `UPDATE parked_deliveries SET batch_id = $2, leased_until = $3, leased_by = $4 WHERE delivery_id = ANY($1) RETURNING ${RETURNING}`,
        [ids, batchId, leasedUntil, this.instanceId],
      );
      return { rows: inLineOrder(rows).map(toParked), readyAt: null };
    });
  }

  /** The line of one channel as it is now. */
  async lineStats(channelId: string): Promise<LineStats> {
    const [r]: { due: number; parked: number; next_at: Date | null }[] = await this.ds.query(
      `SELECT count(*) FILTER (WHERE due_at <= now() AND ${this.claimable})::int AS due,
              count(*) FILTER (WHERE ${this.claimable})::int AS parked,
              min(greatest(due_at, coalesce(leased_until, due_at))) AS next_at
         FROM parked_deliveries WHERE channel_id = $1`,
      [channelId],
    );
    return { due: r.due, parked: r.parked, nextDueAt: r.next_at ? r.next_at.getTime() : null };
  }

  /** The lines of every channel of `partitions`: what a new owner of them starts from. */
  async lines(partitions: number[]): Promise<ChannelLine[]> {
    const rows: { channel_id: string; org_id: string; partition: number; due: number; parked: number; next_at: Date | null }[] = await this.ds.query(
      `SELECT channel_id, min(org_id) AS org_id, min(partition) AS partition,
              count(*) FILTER (WHERE due_at <= now() AND ${this.claimable})::int AS due,
              count(*) FILTER (WHERE ${this.claimable})::int AS parked,
              min(greatest(due_at, coalesce(leased_until, due_at))) AS next_at
         FROM parked_deliveries WHERE partition = ANY($1) GROUP BY channel_id`,
      [partitions],
    );
    return rows.map((r) => ({
      channelId: r.channel_id,
      orgId: r.org_id,
      partition: r.partition,
      due: r.due,
      parked: r.parked,
      nextDueAt: r.next_at ? r.next_at.getTime() : null,
    }));
  }

  /**
   * Removes up to `limit` waiting rows of `partitions` whose retry policy's time ran out, with the
   * events `eventsOf` makes of them, in one transaction.
   */
  async expire(partitions: number[], limit: number, eventsOf: (rows: ParkedRow[]) => OutgoingMessage[]): Promise<ParkedRow[]> {
    const expired = await this.ds.transaction(async (em) => {
      const [rows]: [Row[], number] = await em.query(
        `DELETE FROM parked_deliveries WHERE delivery_id IN (
           SELECT delivery_id FROM parked_deliveries
            WHERE partition = ANY($1) AND expires_at <= now() AND ${this.claimable}
            LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING ${RETURNING}`,
        [partitions, limit],
      );
      const parked = rows.map(toParked);
      await this.outbox.append(em, eventsOf(parked));
      return parked;
    });
    if (expired.length > 0) await this.outbox.flush();
    return expired;
  }

  /** Which of `deliveryIds` are parked already (a message read again after its reader died before acknowledging it). */
  async existing(deliveryIds: string[]): Promise<Set<string>> {
    const rows: { delivery_id: string }[] = await this.ds.query('SELECT delivery_id FROM parked_deliveries WHERE delivery_id = ANY($1)', [deliveryIds]);
    return new Set(rows.map((r) => r.delivery_id));
  }

  /** Gives leases back (rows this instance will not finish): claimable again at once. */
  async release(deliveryIds: string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.ds.query('UPDATE parked_deliveries SET leased_until = NULL, leased_by = NULL WHERE delivery_id = ANY($1)', [deliveryIds]);
  }

  /** Gives back every lease: for the embedded mode's single instance, whose earlier run is gone. */
  async releaseAll(): Promise<void> {
    await this.ds.query('UPDATE parked_deliveries SET leased_until = NULL, leased_by = NULL WHERE leased_until IS NOT NULL');
  }

  private async insert(em: EntityManager, entries: ParkEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const col = <T>(f: (e: ParkEntry) => T): T[] => entries.map(f);
    await em.query(
      `INSERT INTO parked_deliveries
         (delivery_id, channel_id, partition, org_id, next_attempt, first_attempt_at, due_at, leased_until, expires_at, batch_id, request, leased_by)
       SELECT u.*, CASE WHEN u.leased_until IS NULL THEN NULL ELSE $12 END
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::timestamptz[], $7::timestamptz[],
                     $8::timestamptz[], $9::timestamptz[], $10::text[], $11::jsonb[])
              AS u(delivery_id, channel_id, partition, org_id, next_attempt, first_attempt_at, due_at, leased_until, expires_at, batch_id, request)
       ON CONFLICT (delivery_id) DO UPDATE SET
         next_attempt = EXCLUDED.next_attempt, due_at = EXCLUDED.due_at, leased_until = EXCLUDED.leased_until,
         leased_by = EXCLUDED.leased_by, expires_at = EXCLUDED.expires_at, batch_id = EXCLUDED.batch_id`,
      [
        col((e) => e.delivery.request.deliveryId),
        col((e) => e.delivery.request.channelId),
        col((e) => e.delivery.partition),
        col((e) => e.delivery.orgId),
        col((e) => e.attempt),
        col((e) => e.delivery.firstSeenAt),
        col((e) => e.dueAt),
        col((e) => e.leasedUntil),
        col((e) => e.expiresAt),
        col((e) => e.batchId),
        col((e) => JSON.stringify(e.delivery.request)),
        this.instanceId,
      ],
    );
  }
}

function inLineOrder(rows: Row[]): Row[] {
  return rows.sort((a, b) => a.due_at.getTime() - b.due_at.getTime() || Number(BigInt(a.seq) - BigInt(b.seq)));
}

function toParked(r: Row): ParkedRow {
  return {
    delivery: { orgId: r.org_id, request: r.request, partition: r.partition, firstSeenAt: r.first_attempt_at },
    batchId: r.batch_id,
    attempt: r.next_attempt,
  };
}
