import type { Log, OutgoingMessage } from '@waybill/messaging';
import type { FinishedStore, ParkedLineStore } from './ports';
import type { Delivery } from './work';

/** For this long after a partition is assigned, its deliveries are checked against the parked lines and the notes (ms). */
const RECOVERY_WINDOW_MS = 30_000;
/** Finished deliveries are remembered this long (ms): far longer than any message waits for its acknowledgement. */
export const FINISHED_KEEP_MS = 60 * 60_000;

/**
 * What a crash repeats. A delivery read from the log that ends is noted finished, with its
 * outcome's events, as they go out (durably, before its message is acknowledged). For a while
 * after it takes a partition, the dispatcher looks up what it reads again — messages whose reader
 * died before acknowledging them — in the parked line and in the notes: a
 * parked one stays parked; a finished one has its events published again (consumers dedupe them)
 * and is not sent again.
 */
export class Recovery {
  private readonly recovering = new Map<number, number>();

  constructor(
    private readonly parked: Pick<ParkedLineStore, 'existing'>,
    private readonly finished: FinishedStore,
    private readonly publish: (events: OutgoingMessage[]) => Promise<void>,
    private readonly log: Log,
  ) {}

  /** `partitions` were just taken over: their deliveries may have been read before. */
  taken(partitions: number[], now = Date.now()): void {
    for (const p of partitions) this.recovering.set(p, now + RECOVERY_WINDOW_MS);
  }

  /** The deliveries that still need doing: without those parked already, or finished (their events published again). */
  async withoutSettled(deliveries: Delivery[], inMemory: (d: Delivery) => boolean, now = Date.now()): Promise<Delivery[]> {
    const suspects = deliveries.filter((d) => (this.recovering.get(d.partition) ?? 0) > now && !inMemory(d));
    if (suspects.length === 0) return deliveries;
    const ids = suspects.map((d) => d.request.deliveryId);
    const [parked, finished] = await Promise.all([this.parked.existing(ids), this.finished.finishedOf(ids)]);
    if (parked.size === 0 && finished.size === 0) return deliveries;
    // Finished before the crash: its outcome is published again, the partner not asked again.
    const republish = [...finished.values()].flat();
    if (republish.length > 0) await this.publish(republish);
    return deliveries.filter((d) => !parked.has(d.request.deliveryId) && !finished.has(d.request.deliveryId));
  }

  /**
   * Notes deliveries finished with the events of their outcome (those that name them). Their
   * messages are acknowledged only once this is written: a message read again (a rebalance, a
   * broker restart, before its offset was committed) must find its note.
   */
  note(deliveries: Delivery[], events: OutgoingMessage[]): Promise<void> {
    const entries = deliveries.map((d) => ({
      deliveryId: d.request.deliveryId,
      events: events.filter((m) => (m.value as { data?: { deliveryId?: string } } | null)?.data?.deliveryId === d.request.deliveryId),
    }));
    return this.finished.noteFinished(entries);
  }

  forgetOld(): Promise<void> {
    return this.finished.forgetFinished(FINISHED_KEEP_MS).catch((err) => this.log.warn({ err }, 'dispatcher: forgetting finished deliveries failed'));
  }
}
