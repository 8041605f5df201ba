/** The dispatcher's tunables, with the values it runs with by default. */
export interface DispatcherOptions {
  /**
   * How often a handler of `waybill.deliveries` looks at the deliveries it waits for, and hands
   * those that would keep it waiting longer than this to their channels' parked lines (ms). A
   * request in flight this long, at least, marks its channel slow (the bound grows with what requests
   * take lately and with the event loop's lag: `Pace.slowAfterMs`).
   */
  holdMs: number;
  /** The longest a handler of `waybill.deliveries` waits for busy, healthy channels before it parks what is left (ms). */
  maxHoldMs: number;
  /**
   * Requests in flight at once across all channels of one instance: `maxInFlight - slowShare` for
   * healthy channels, `slowShare` for slow ones (a request found slow while it runs moves to the
   * slow share, which then takes no more until it is back under its size).
   */
  maxInFlight: number;
  /** The most requests one channel may have in flight, whatever its `maxConcurrency`. */
  channelShare: number;
  /** The part of `maxInFlight` slow channels share. */
  slowShare: number;
  /** A lease's margin (ms): a claimed delivery is leased for twice its channel's timeout plus this, one handed over mid-attempt for the timeout plus this from its start. */
  leaseMarginMs: number;
  /**
   * How often channel health is stored for other instances to read (ms): a channel whose circuit,
   * throttle, slowness or having work waiting changed, at this pace; one that only changed its
   * counts, every `healthRefreshMs`.
   */
  healthFlushMs: number;
  healthRefreshMs: number;
  /** How often waiting deliveries whose retry policy ran out are looked for (ms). */
  expirySweepMs: number;
  /** How often a disabled channel with waiting deliveries is looked at again (ms). */
  disabledRecheckMs: number;
  /** A channel with nothing going on is forgotten after this long (its breaker closed, nothing parked) (ms). */
  idleLaneMs: number;
  /** Time given to attempts in flight at shutdown before they are cut off and handed back (ms). */
  shutdownGraceMs: number;
}

export const DEFAULT_DISPATCHER_OPTIONS: DispatcherOptions = {
  holdMs: 250,
  maxHoldMs: 3_000,
  maxInFlight: 512,
  channelShare: 64,
  slowShare: 128,
  leaseMarginMs: 5_000,
  healthFlushMs: 1_000,
  healthRefreshMs: 10_000,
  expirySweepMs: 1_000,
  disabledRecheckMs: 1_000,
  idleLaneMs: 10 * 60_000,
  shutdownGraceMs: 5_000,
};

export const DISPATCHER_OPTIONS = Symbol('dispatcher.options');
