import type { DeliveryRequest } from '@waybill/contracts';
import type { Slot } from './in-flight-budget';

/** A delivery as the dispatcher holds it. */
export interface Delivery {
  orgId: string;
  request: DeliveryRequest;
  /** Its partition of `waybill.deliveries` (its channel's): only that partition's owner attempts it. */
  partition: number;
  /** When the dispatcher first took it: its retry policy's time counts from here. */
  firstSeenAt: Date;
}

/** buffering (a batch filling) → queued → running → settling (its outcome being made durable) → done. */
export type WorkState = 'buffering' | 'queued' | 'running' | 'settling' | 'done';

/**
 * One request's worth of work: a delivery, or a batch of deliveries of one channel and format
 * (a batch keeps its id and its items across retries). `released` resolves once the messages it
 * came from may be acknowledged: it is finished (its events published) or stored durably.
 */
export class Work {
  state: WorkState;
  /** Set once the work has rows in `parked_deliveries`; resolves when they are written. */
  stored: Promise<void> | null;
  startedAt = 0;
  slot: Slot | null = null;
  probe = false;
  /** `delivery.started` was published for this attempt (it has been in flight a while). */
  announced = false;
  readonly released: Promise<void>;
  private release!: () => void;
  private releasedYet = false;

  constructor(
    readonly channelId: string,
    readonly deliveries: Delivery[],
    readonly batchId: string | null,
    /** The number of the attempt this work makes (1 for the first). */
    readonly attempt: number,
    opts: { stored: boolean; state?: WorkState },
  ) {
    this.state = opts.state ?? 'queued';
    this.stored = opts.stored ? Promise.resolve() : null;
    this.released = new Promise((resolve) => (this.release = resolve));
    if (opts.stored) this.markReleased();
  }

  get isReleased(): boolean {
    return this.releasedYet;
  }

  markReleased(): void {
    if (this.releasedYet) return;
    this.releasedYet = true;
    this.release();
  }

  /** The earliest time any of its deliveries was first taken. */
  get firstSeenAt(): Date {
    let first = this.deliveries[0].firstSeenAt;
    for (const d of this.deliveries) if (d.firstSeenAt < first) first = d.firstSeenAt;
    return first;
  }
}
