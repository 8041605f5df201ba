import type { DataSource } from 'typeorm';
import { GroupCommit, OutgoingMessage } from '@waybill/messaging';
import type { FinishedEntry, FinishedStore } from '../../application/engine/ports';

/**
 * `finished_deliveries` (unlogged): deliveries read from the log that ended, with the events of
 * their outcome, so that a message read again after a crash is not sent again (see `Recovery`).
 */
export class FinishedDeliveries implements FinishedStore {
  private readonly notes = new GroupCommit<FinishedEntry[], void>(
    async (groups) => {
      await this.ds.query(
        `INSERT INTO finished_deliveries (delivery_id, events)
         SELECT d, e FROM json_to_recordset($1::json) AS x(d text, e json) ON CONFLICT DO NOTHING`,
        [JSON.stringify(groups.flat().map((f) => ({ d: f.deliveryId, e: f.events })))],
      );
      return groups.map(() => undefined);
    },
    { maxItems: 1_000, maxWeight: 5_000, weight: (entries) => entries.length },
  );

  constructor(private readonly ds: DataSource) {}

  /**
   * Notes deliveries finished, with the events of their outcome (as they are published, not after:
   * the sooner, the fewer requests a crash repeats). Concurrent notes share one statement.
   */
  noteFinished(entries: FinishedEntry[]): Promise<void> {
    return entries.length === 0 ? Promise.resolve() : this.notes.submit(entries);
  }

  /** The deliveries of `deliveryIds` noted finished, with their events. */
  async finishedOf(deliveryIds: string[]): Promise<Map<string, OutgoingMessage[]>> {
    const rows: { delivery_id: string; events: OutgoingMessage[] }[] = await this.ds.query(
      'SELECT delivery_id, events FROM finished_deliveries WHERE delivery_id = ANY($1)',
      [deliveryIds],
    );
    return new Map(rows.map((r) => [r.delivery_id, r.events]));
  }

  /** Forgets finished deliveries older than `ageMs`: by then their messages were long acknowledged. */
  async forgetFinished(ageMs: number): Promise<void> {
    await this.ds.query(`DELETE FROM finished_deliveries WHERE finished_at < now() - make_interval(secs => $1 / 1000.0)`, [ageMs]);
  }
}
