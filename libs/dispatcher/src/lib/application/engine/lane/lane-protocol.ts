import type { ChannelState } from '@waybill/contracts';
import type { OutgoingMessage } from '@waybill/messaging';
import type { CircuitTransition } from '../../../domain/circuit-breaker';
import type { AttemptResult, LineStats, ParkedRow, ParkEntry, ParkReason } from '../ports';
import type { Delivery, Retry, Work } from '../work';

/**
 * The lane's protocol: what happens to a channel (events, in), what the lane wants done about it
 * (effects, out), and what it is told of the world at that moment. The lane decides; the runtime
 * (`lane-runtime.ts`) does the I/O and reports back with more events.
 */

/** What the lane is told of the world with each event: values, read by the runtime just then. */
export interface World {
  /** Now (ms since the epoch). */
  now: number;
  /** The channel as the replica holds it now; undefined once it was deleted. */
  channel: ChannelState | undefined;
  /** Slots free in the instance's budget of requests in flight, by pool. */
  room: { normal: number; slow: number };
  /** A request in flight this long makes its channel slow (ms); see `Pace`. */
  slowAfterMs: number;
  /** What answers take lately across all channels (p90, ms). */
  typicalMs: number;
  /** The instance is stopping: nothing new starts. */
  closing: boolean;
}

/** The lane's timers: at most one of each is set (the runtime sets and clears them as told). */
export type TimerName =
  /** Look at the parked line again (something becomes due, a disabled channel, a throttle ending). */
  | 'wake'
  /** The batch being filled in memory has waited `maxWaitMs`. */
  | 'batch'
  /** The open circuit's reset timeout has passed. */
  | 'halfOpen';

export type LaneEvent =
  /** A `delivery.requested` read from the log (or read again, after a rebalance). */
  | { kind: 'arrived'; delivery: Delivery }
  /** The partner answered (or did not, within the timeout: `result` says). */
  | { kind: 'answered'; work: Work; result: AttemptResult; at: number; random: number }
  /** Shutdown cut the request off: not an attempt, nothing recorded. */
  | { kind: 'cut'; work: Work }
  /** The attempt failed unexpectedly (not the partner's doing): its deliveries go back to the line. */
  | { kind: 'crashed'; work: Work }
  /** A running work's outcome is written (its events published, its rows settled). */
  | { kind: 'committed'; work: Work }
  /** Works that will not go now, or deliveries at their arrival, were written where they go next. */
  | { kind: 'handedOff'; works: Work[]; parked: number }
  /** The hold guard's hand-over was written: waiting works are in the line, running ones leased. */
  | { kind: 'handedOver'; running: Work[]; waiting: Work[] }
  /** Rows taken from the line under a lease (whole batches, or single rows), and the line as it is now when fewer came. */
  | { kind: 'claimed'; works: ParkedRow[][]; readyAt: number | null; line: LineStats | null }
  | { kind: 'claimFailed' }
  /** This instance took the channel's partition; its line as the table has it. */
  | { kind: 'lineLoaded'; line: LineStats }
  /** This instance owns the channel's partition again (its line is loaded apart, when it has one). */
  | { kind: 'partitionGained' }
  /** This instance no longer owns the channel's partition: what it holds of the partition's messages is parked. */
  | { kind: 'partitionLost' }
  /** Waiting rows whose policy's time ran out were removed (FAILED). */
  | { kind: 'expired'; count: number }
  | { kind: 'timer'; timer: TimerName }
  /** The budget of requests in flight has room again. */
  | { kind: 'room' }
  /** The hold guard asks which of these works would hold its batch up; `everything`: all of them (maxHoldMs passed). */
  | { kind: 'holdCheck'; works: Work[]; everything: boolean }
  /** A periodic look at the requests in flight: the slow ones. */
  | { kind: 'slowCheck' };

/**
 * Writes that take deliveries out of memory or settle them, done in this order: the pull queue,
 * the events (with the finished notes alongside), parked rows, rows settled.
 */
export interface Writes {
  pull: Delivery[];
  events: OutgoingMessage[];
  /** Deliveries that end here (read from the log or taken from the line): noted finished as their events go out. */
  finished: Delivery[];
  park: ParkEntry[];
  settle: { ids: string[]; retry: Retry | null } | null;
  /** Deliveries parked, by why (metrics). */
  parkedFor: Partial<Record<ParkReason, number>>;
}

export type Effect =
  /** The commit point must wait for this work (held in memory) before acknowledging its messages. */
  | { kind: 'hold'; work: Work }
  /** Send the work's request now, on a slot of `work.slot`'s pool (the lane counted the room). */
  | { kind: 'launch'; work: Work }
  /** Tell the lane (`room`) when the budget has room again. */
  | { kind: 'awaitRoom' }
  /** The running work's slot moves to the slow pool (its channel was found slow). */
  | { kind: 'demote'; work: Work }
  /** Make `writes` durable; then give `frees`'s slot back (an attempt that ends) and tell the lane `then`. */
  | { kind: 'write'; writes: Writes; then: LaneEvent | null; frees: Work | null }
  /** Take up to `count` works from the line under a lease until `leasedUntil` (batches when `batch`). */
  | { kind: 'claim'; count: number; leasedUntil: Date; batch: { maxItems: number; maxWaitMs: number } | null }
  /** Set a timer (at: ms since the epoch) or clear it (at: null). */
  | { kind: 'timer'; timer: TimerName; at: number | null }
  /** The circuit changed: its alert (opened, closed) to publish, and health to store at once. */
  | { kind: 'circuit'; transition: CircuitTransition; alert: OutgoingMessage | null }
  /** `delivery.started` of requests in flight a while: best effort. */
  | { kind: 'announce'; events: OutgoingMessage[] }
  /** These works' messages may now be acknowledged. */
  | { kind: 'release'; works: Work[] };

export function noWrites(): Writes {
  return { pull: [], events: [], finished: [], park: [], settle: null, parkedFor: {} };
}
