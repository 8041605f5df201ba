import type { DeliveryRequest } from '@waybill/contracts';
import type { OutgoingMessage } from '@waybill/messaging';
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

/** The next attempt of a delivery that failed retryably. */
export interface Retry {
  attempt: number;
  dueAt: Date;
  expiresAt: Date;
}

/** What an attempt's answer led to: its events, and its next attempt when there is one. */
export interface Plan {
  events: OutgoingMessage[];
  retry: Retry | null;
}

/**
 * One request's worth of work: a delivery, or a batch of deliveries of one channel and format (a
 * batch keeps its id and its items across retries). Plain data: its lane changes it as it decides.
 */
export class Work {
  state: WorkState;
  /**
   * Whether it has rows in `parked_deliveries`: false for work read from the log and held in
   * memory, 'writing' while a hand-over parks it mid-attempt, true once they are written.
   */
  stored: boolean | 'writing';
  /** Its messages may be acknowledged: it is finished (its events published) or stored durably. */
  released: boolean;
  startedAt = 0;
  slot: Slot | null = null;
  /** Sent while its circuit was HALF_OPEN: the probe. */
  probe = false;
  /** `delivery.started` was published for this attempt (it has been in flight a while). */
  announced = false;
  /** The answer's outcome, kept while its hand-over is still being written (then it settles the rows). */
  plan: Plan | null = null;
  /** What its end leaves in the parked line (a retry, or the line itself), for the lane to count once written. */
  leaves: { count: number; dueAt: number; dueNow: boolean } | null = null;

  constructor(
    readonly channelId: string,
    readonly deliveries: Delivery[],
    readonly batchId: string | null,
    /** The number of the attempt this work makes (1 for the first). */
    readonly attempt: number,
    opts: { stored: boolean; state?: WorkState },
  ) {
    this.state = opts.state ?? 'queued';
    this.stored = opts.stored;
    this.released = opts.stored;
  }

  /** The earliest time any of its deliveries was first taken. */
  get firstSeenAt(): Date {
    let first = this.deliveries[0].firstSeenAt;
    for (const d of this.deliveries) if (d.firstSeenAt < first) first = d.firstSeenAt;
    return first;
  }

  get ids(): string[] {
    return this.deliveries.map((d) => d.request.deliveryId);
  }
}
