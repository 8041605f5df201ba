import type { ChannelState } from '@waybill/contracts';
import { classify } from '@waybill/delivery';
import { delay, Log, OutgoingMessage } from '@waybill/messaging';
import { buildBatchRequest, buildPartnerRequest } from '../../domain/partner-request';
import type { InFlightBudget } from './in-flight-budget';
import type { ChannelLane } from './lane/channel-lane';
import type { Effect, LaneEvent, TimerName, World, Writes } from './lane/lane-protocol';
import type { LineKeeper } from './line-keeper';
import type { Pace } from './pace';
import type { Gather } from './gather';
import type { EngineMetrics, ParkedLineStore, ParkReason, PartnerPort } from './ports';
import type { Recovery } from './recovery';
import type { Releases } from './releases';
import type { Delivery, Work } from './work';

export interface RuntimeDeps {
  channels: { current(id: string): ChannelState | undefined };
  gateway: PartnerPort;
  parked: ParkedLineStore;
  pull: { enqueue(deliveries: Delivery[]): Promise<void> };
  publisher: { publish(messages: OutgoingMessage[]): Promise<void> };
  metrics: EngineMetrics;
  log: Log;
  budget: InFlightBudget;
  pace: Pace;
  releases: Releases;
  recovery: Recovery;
  keeper: LineKeeper;
  /** A circuit changed: the owner's health is stored at once. */
  circuitChanged(): void;
}

/**
 * Carries out what lanes decide, and tells them how it went. One lane decides one event at a time:
 * an event for a lane that is deciding (or carrying out its effects) waits its turn; other lanes
 * decide at once (a freed slot is taken synchronously by the lane it wakes). Each decision's
 * launches go first, so that the budget is as the lane counted it when anything else runs.
 */
export class LaneRuntime {
  /** Attempts and writes under way: a stop waits for them. */
  readonly pending = new Set<Promise<unknown>>();
  /** Lanes with requests in flight (looked at for slowness). */
  readonly busy = new Set<ChannelLane>();
  private readonly deciding = new Set<ChannelLane>();
  private readonly waiting = new Map<ChannelLane, Array<{ event: LaneEvent; gather?: Gather; channel?: ChannelState }>>();
  private readonly timers = new Map<ChannelLane, Partial<Record<TimerName, NodeJS.Timeout>>>();
  private readonly onRoom = new Map<ChannelLane, () => void>();
  private readonly abort = new AbortController();
  private closing = false;

  constructor(private readonly deps: RuntimeDeps) {}

  /**
   * Has `lane` decide `event`, and carries out its effects. With `gather`, an error is the
   * caller's (an arrival must not be acknowledged unseen); without, it is logged.
   */
  dispatch(lane: ChannelLane, event: LaneEvent, opts: { gather?: Gather; channel?: ChannelState } = {}): void {
    if (this.deciding.has(lane)) {
      let queue = this.waiting.get(lane);
      if (!queue) this.waiting.set(lane, (queue = []));
      queue.push({ event, ...opts });
      return;
    }
    this.deciding.add(lane);
    try {
      for (let next: { event: LaneEvent; gather?: Gather; channel?: ChannelState } | undefined = { event, ...opts }; next; next = this.waiting.get(lane)?.shift()) {
        try {
          this.execute(lane, lane.decide(next.event, this.world(lane, next.channel)), next.gather);
        } catch (err) {
          if (next.gather) throw err;
          this.deps.log.error({ err, channelId: lane.id, event: next.event.kind }, 'dispatcher: a lane could not decide');
        }
      }
    } finally {
      this.deciding.delete(lane);
      this.waiting.delete(lane);
      if (lane.running > 0) this.busy.add(lane);
      else this.busy.delete(lane);
    }
  }

  /** Makes a merged gather's writes (an accept's), then tells each lane its part. */
  async flush(gather: Gather): Promise<void> {
    const merged = gather.merged;
    if (!merged) return;
    await this.perform(merged.writes, false);
    for (const [lane, parked] of merged.parked) this.dispatch(lane, { kind: 'handedOff', works: [], parked });
  }

  /** Stops: nothing new starts; the timers are cleared; `cutOff` ends the requests in flight (not recorded as attempts). */
  close(): void {
    this.closing = true;
    for (const set of this.timers.values()) for (const t of Object.values(set)) clearTimeout(t);
    this.timers.clear();
  }

  get isClosing(): boolean {
    return this.closing;
  }

  cutOff(): void {
    this.abort.abort();
  }

  /** Resolves once nothing is under way (attempts and writes, and those they led to). */
  async drained(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Forgets an idle lane's timers and callbacks. */
  forget(lane: ChannelLane): void {
    for (const t of Object.values(this.timers.get(lane) ?? {})) clearTimeout(t);
    this.timers.delete(lane);
    this.onRoom.delete(lane);
  }

  private world(lane: ChannelLane, channel?: ChannelState): World {
    const { budget, pace } = this.deps;
    const now = Date.now();
    return {
      now,
      channel: channel ?? this.deps.channels.current(lane.id),
      room: { normal: budget.room(false), slow: budget.room(true) },
      slowAfterMs: pace.slowAfterMs(now),
      typicalMs: pace.typical(now),
      closing: this.closing,
    };
  }

  private execute(lane: ChannelLane, fx: Effect[], gather?: Gather): void {
    for (const e of fx) if (e.kind === 'launch') this.launch(lane, e.work);
    for (const e of fx) {
      switch (e.kind) {
        case 'launch':
          break;
        case 'hold':
          gather?.held.add(e.work);
          break;
        case 'awaitRoom':
          this.deps.budget.whenRoom(this.roomCallback(lane));
          break;
        case 'demote':
          this.deps.budget.demote();
          break;
        case 'write':
          this.write(lane, e, gather);
          break;
        case 'claim':
          this.claim(lane, e);
          break;
        case 'timer':
          this.timer(lane, e.timer, e.at);
          break;
        case 'circuit':
          this.circuit(lane, e);
          break;
        case 'announce':
          if (gather) gather.announce.push(...e.events);
          else this.announce(e.events);
          break;
        case 'release':
          this.deps.releases.released(e.works);
          break;
      }
    }
  }

  /** `delivery.started` of slow requests: best effort (the attempt's own events say the rest). */
  announce(events: OutgoingMessage[]): void {
    if (events.length === 0) return;
    this.track(this.deps.publisher.publish(events).catch((err) => this.deps.log.warn({ err }, 'dispatcher: announcing slow attempts failed')));
  }

  private launch(lane: ChannelLane, work: Work): void {
    const slow = work.slot === 'slow';
    if (!this.deps.budget.take(slow)) {
      this.deps.log.error({ channelId: lane.id }, 'dispatcher: a lane launched without room in the budget; counted anyway');
      this.deps.budget.occupy(slow);
    }
    this.track(this.attempt(lane, work).catch((err) => this.deps.log.error({ err, channelId: lane.id }, 'dispatcher: an attempt went wrong')));
  }

  /** One attempt: the request, then its answer to the lane (which decides its commit). */
  private async attempt(lane: ChannelLane, work: Work): Promise<void> {
    const channel = this.deps.channels.current(lane.id);
    const at = Date.now();
    let result;
    try {
      if (!channel) throw new Error(`channel ${lane.id} is gone`);
      result = await this.deps.gateway.send(
        channel,
        (secrets) =>
          work.batchId
            ? buildBatchRequest(channel, work.batchId, work.deliveries.map((d) => d.request), work.attempt, secrets, new Date())
            : buildPartnerRequest(channel, work.deliveries[0].request, work.attempt, secrets, new Date()),
        this.abort.signal,
      );
    } catch (err) {
      this.deps.log.error({ err, channelId: lane.id }, 'dispatcher: an attempt failed unexpectedly; its deliveries go back to the line');
      this.dispatch(lane, { kind: 'crashed', work });
      return;
    }
    if (this.abort.signal.aborted && result.exchange.kind !== 'answered') {
      this.free(work); // cut off by shutdown: not an attempt
      this.dispatch(lane, { kind: 'cut', work });
      return;
    }
    this.deps.metrics.attempt(classify(result.exchange), result.durationMs);
    if (result.exchange.kind !== 'timeout') this.deps.pace.record(result.durationMs);
    this.dispatch(lane, { kind: 'answered', work, result, at, random: Math.random() });
  }

  private write(lane: ChannelLane, e: Extract<Effect, { kind: 'write' }>, gather?: Gather): void {
    if (gather?.merged) {
      gather.merge(e.writes, lane, e.then);
      return;
    }
    const done = this.perform(e.writes, true).then(
      () => {
        if (e.frees) this.free(e.frees);
        if (e.then) this.dispatch(lane, e.then);
      },
      (err) => {
        // Only a stop ends a durable write: a work whose attempt ended is left as cut off (held, its leases given back by the stop).
        if (e.frees) {
          this.free(e.frees);
          this.dispatch(lane, { kind: 'cut', work: e.frees });
        }
        throw err;
      },
    );
    this.track(done.catch((err) => this.deps.log.warn({ err, channelId: lane.id }, 'dispatcher: a write was cut short')));
    gather?.waits.push(done);
  }

  /** The writes, in order: the pull queue and the finished notes beside events then parked rows; then rows settled. */
  private async perform(w: Writes, durably: boolean): Promise<void> {
    const run = (write: () => Promise<void>) => (durably ? this.durably(write) : write());
    await Promise.all([
      w.pull.length > 0 ? run(() => this.deps.pull.enqueue(w.pull)) : undefined,
      w.finished.length > 0 ? run(() => this.deps.recovery.note(w.finished, w.events)) : undefined,
      (async () => {
        if (w.events.length > 0) await run(() => this.deps.publisher.publish(w.events));
        if (w.park.length > 0) {
          await run(() => this.deps.parked.park(w.park));
          for (const [reason, count] of Object.entries(w.parkedFor)) this.deps.metrics.parked(reason as ParkReason, count);
          this.deps.keeper.scheduleExpiry();
        }
      })(),
    ]);
    const settle = w.settle;
    if (settle && settle.ids.length > 0) await run(() => this.deps.parked.settle(settle.ids, settle.retry));
  }

  private claim(lane: ChannelLane, e: Extract<Effect, { kind: 'claim' }>): void {
    this.track(
      this.deps.keeper.claim(lane.id, e).then(
        (claimed) => this.dispatch(lane, { kind: 'claimed', ...claimed }),
        (err) => {
          this.deps.log.warn({ err, channelId: lane.id }, 'dispatcher: taking from the parked line failed; will try again');
          this.dispatch(lane, { kind: 'claimFailed' });
        },
      ),
    );
  }

  private timer(lane: ChannelLane, name: TimerName, at: number | null): void {
    let set = this.timers.get(lane);
    clearTimeout(set?.[name]);
    if (set) delete set[name];
    if (at === null || this.closing) return;
    if (!set) this.timers.set(lane, (set = {}));
    const timers = set;
    const t = setTimeout(() => {
      delete timers[name];
      this.dispatch(lane, { kind: 'timer', timer: name });
    }, Math.max(0, at - Date.now()));
    t.unref();
    timers[name] = t;
  }

  private circuit(lane: ChannelLane, e: Extract<Effect, { kind: 'circuit' }>): void {
    const t = e.transition;
    this.deps.metrics.circuit(t.to);
    this.deps.log.info({ channelId: lane.id, circuit: t.to, ...(t.to === 'OPEN' ? { reason: t.reason } : {}) }, `channel circuit ${t.to}`);
    const alert = e.alert;
    if (alert) {
      this.track(this.durably(() => this.deps.publisher.publish([alert])).catch((err) => this.deps.log.error({ err, channelId: lane.id }, 'dispatcher: a circuit alert could not be published')));
    }
    this.deps.circuitChanged();
  }

  private roomCallback(lane: ChannelLane): () => void {
    let cb = this.onRoom.get(lane);
    if (!cb) this.onRoom.set(lane, (cb = () => this.dispatch(lane, { kind: 'room' })));
    return cb;
  }

  private free(work: Work): void {
    if (work.slot) this.deps.budget.release(work.slot);
  }

  /** `p` must not reject (its errors handled where it is made). */
  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
  }

  /** Runs `write` until it succeeds (backing off), or until shutdown cuts it off. */
  durably(write: () => Promise<void>): Promise<void> {
    return (async () => {
      for (let failures = 0; ; failures++) {
        try {
          return await write();
        } catch (err) {
          if (this.abort.signal.aborted) throw err;
          this.deps.log.warn({ err }, 'dispatcher: a write failed; will try again');
          await delay(Math.min(5_000, 100 * 2 ** failures), this.abort.signal);
        }
      }
    })();
  }
}
