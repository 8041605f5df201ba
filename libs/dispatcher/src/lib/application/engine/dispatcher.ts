import type { ChannelState } from '@waybill/contracts';
import type { CircuitState } from '@waybill/delivery';
import { delay, Log, OutgoingMessage } from '@waybill/messaging';
import { newId } from '@waybill/platform';
import { CircuitBreaker } from '../../domain/circuit-breaker';
import type { DispatcherOptions } from '../../dispatcher.options';
import { Gather } from './gather';
import { HealthReporter } from './health-reporter';
import { HoldGuard } from './hold-guard';
import { InFlightBudget } from './in-flight-budget';
import { arriveWithoutLane } from './lane/arrival';
import { ChannelLane } from './lane/channel-lane';
import { LaneRuntime } from './lane-runtime';
import { LineKeeper } from './line-keeper';
import { Pace } from './pace';
import type { ChannelHealth, EngineMetrics, FinishedStore, HealthStore, ParkedLineStore, PartnerPort } from './ports';
import { Recovery } from './recovery';
import { Releases } from './releases';
import type { Delivery, Work } from './work';

/** How often idle channels are looked for (ms). */
const IDLE_SWEEP_MS = 60_000;
/** How often this instance says it is alive (ms); see `STALE_AFTER_S`. */
const HEARTBEAT_MS = 2_000;
const FINISHED_SWEEP_MS = 10 * 60_000;
const DEFAULT_BREAKER = { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 };

/** What the dispatcher needs of its surroundings. */
export interface DispatcherDeps {
  /** The channel replica: `current` on the hot path, `channel` (catching up) on a miss. */
  channels: {
    current(id: string): ChannelState | undefined;
    channel(orgId: string, id: string): Promise<ChannelState | undefined>;
  };
  gateway: PartnerPort;
  parked: ParkedLineStore;
  finished: FinishedStore;
  health: HealthStore;
  pull: { enqueue(deliveries: Delivery[]): Promise<void> };
  publisher: { publish(messages: OutgoingMessage[]): Promise<void> };
  metrics: EngineMetrics;
  log: Log;
  options: DispatcherOptions;
  /** Embedded mode: this is the only instance, so leases left in the database are its dead run's. */
  soleInstance: boolean;
}

/**
 * The dispatcher: one lane per channel (`ChannelLane`, which decides), a runtime that carries out
 * what lanes decide (`LaneRuntime`), and around them the instance's budget of requests in flight,
 * the commit point's bound (`HoldGuard`), the parked line's loading and sweeps (`LineKeeper`), what
 * a crash repeats (`Recovery`) and health reporting (`HealthReporter`).
 *
 * A batch of `delivery.requested` is handed in by `accept`, which resolves once every delivery of
 * it is finished (its events published) or parked durably; only then may its messages be
 * acknowledged. A healthy channel's deliveries are attempted at once, in memory, with no database
 * write; anything that would hold the batch up — work for a channel that is slow, open, disabled
 * or throttled, a request in flight too long, a burst far beyond a channel's concurrency — goes to
 * the channel's parked line, from which the owner of its partition takes it again as the channel
 * has room, through the same breaker and limits.
 */
export class Dispatcher {
  private readonly lanes = new Map<string, ChannelLane>();
  private owned = new Set<number>();
  private readonly budget: InFlightBudget;
  private readonly pace: Pace;
  private readonly runtime: LaneRuntime;
  private readonly guard: HoldGuard;
  private readonly keeper: LineKeeper;
  private readonly recovery: Recovery;
  private readonly reporter: HealthReporter;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly deps: DispatcherDeps) {
    const { options, log } = deps;
    this.budget = new InFlightBudget(options.maxInFlight - options.slowShare, options.slowShare);
    this.pace = new Pace(options.holdMs);
    const releases = new Releases();
    this.reporter = new HealthReporter(deps.health, options.healthRefreshMs, log);
    this.keeper = new LineKeeper({
      parked: deps.parked,
      log,
      expirySweepMs: options.expirySweepMs,
      owned: () => [...this.owned],
      closing: () => this.runtime.isClosing,
      anyParked: () => [...this.lanes.values()].some((l) => l.line.parked > 0),
      loaded: (lines) => {
        for (const l of lines) if (this.owned.has(l.partition)) this.runtime.dispatch(this.laneFor(l.channelId, l.orgId, l.partition), { kind: 'lineLoaded', line: l });
      },
      expired: (channelId, count) => {
        const lane = this.lanes.get(channelId);
        if (lane) this.runtime.dispatch(lane, { kind: 'expired', count });
      },
    });
    this.recovery = new Recovery(deps.parked, deps.finished, (events) => this.runtime.durably(() => deps.publisher.publish(events)), log);
    this.runtime = new LaneRuntime({
      ...deps,
      budget: this.budget,
      pace: this.pace,
      releases,
      recovery: this.recovery,
      keeper: this.keeper,
      circuitChanged: () => void this.flushHealth(),
    });
    this.guard = new HoldGuard(releases, options, (works, everything) => this.holdCheck(works, everything));
  }

  /** Requests in flight across every channel of this instance. */
  inFlight(): number {
    return this.budget.inFlight;
  }

  /** Deliveries waiting in the channels this instance owns. */
  waiting(): number {
    let n = 0;
    for (const lane of this.lanes.values()) if (lane.owned) n += lane.waiting;
    return n;
  }

  circuits(): Record<CircuitState, number> {
    const counts = { CLOSED: 0, OPEN: 0, HALF_OPEN: 0 };
    for (const lane of this.lanes.values()) if (lane.owned) counts[lane.breaker.state]++;
    return counts;
  }

  async start(): Promise<void> {
    const { parked, options, log } = this.deps;
    await parked.beat();
    if (this.deps.soleInstance) await parked.releaseAll();
    // Alive: the leases this instance takes hold while it beats (a dead one's are taken back).
    this.every(HEARTBEAT_MS, () => parked.beat().catch((err) => log.warn({ err }, 'dispatcher: heartbeat failed; its leases may be taken over')));
    this.every(options.healthFlushMs, () => this.flushHealth());
    this.pace.start();
    this.every(Math.max(10, Math.floor(options.holdMs / 2)), () => this.watchSlow());
    this.every(IDLE_SWEEP_MS, () => this.forgetIdleLanes());
    this.every(FINISHED_SWEEP_MS, () => this.recovery.forgetOld());
  }

  /**
   * This instance now owns `partitions` of `waybill.deliveries` (and only those): it takes the
   * parked lines of the new ones and stops taking those of the others. The lanes of a partition
   * taken away park what they hold of its messages (see `partitionLost`).
   */
  assign(partitions: number[]): void {
    const next = new Set(partitions);
    const added = partitions.filter((p) => !this.owned.has(p));
    this.deps.log.info({ partitions, added }, 'dispatcher: partitions assigned');
    this.owned = next;
    for (const lane of this.lanes.values()) {
      const owned = next.has(lane.partition);
      if (owned !== lane.owned) this.runtime.dispatch(lane, { kind: owned ? 'partitionGained' : 'partitionLost' });
    }
    // Every (re)join may hand out again what was handled but not committed (a rebalance, a broker
    // restarted, this consumer restarted): each assigned partition is looked at for a while.
    this.recovery.taken(partitions);
    if (added.length === 0) return;
    void this.keeper.load(added);
  }

  /**
   * Takes a batch of `delivery.requested`. Resolves once each is finished or parked durably: the
   * commit point. Never waits on a slow partner (see `HoldGuard`).
   */
  async accept(deliveries: Delivery[]): Promise<void> {
    const gather = new Gather({ mergeWrites: true });
    // A channel the replica does not hold is looked up (catching up, bounded) once per batch.
    const missed = new Map<string, Promise<ChannelState | undefined>>();
    const lookUp = (d: Delivery) => {
      let found = missed.get(d.request.channelId);
      if (!found) missed.set(d.request.channelId, (found = this.deps.channels.channel(d.orgId, d.request.channelId)));
      return found;
    };
    for (const d of await this.recovery.withoutSettled(deliveries, (x) => this.inMemory(x))) {
      const holder = this.lanes.get(d.request.channelId);
      if (holder?.held.has(d.request.deliveryId)) {
        this.runtime.dispatch(holder, { kind: 'arrived', delivery: d }, { gather }); // read again (a rebalance): the work in memory answers for it
        continue;
      }
      const channel = this.deps.channels.current(d.request.channelId) ?? (await lookUp(d));
      if (channel?.type === 'HTTP') this.runtime.dispatch(this.laneFor(channel.id, d.orgId, d.partition, channel), { kind: 'arrived', delivery: d }, { gather, channel });
      else gather.merge(arriveWithoutLane(d, channel, Date.now()), null, null);
    }
    await Promise.all([this.runtime.flush(gather), this.guard.hold(gather.held)]);
  }

  /** The health of a channel whose partition this instance owns; null when another owns it. */
  healthOf(channelId: string): ChannelHealth | null {
    const lane = this.lanes.get(channelId);
    return lane?.owned ? lane.health(Date.now()) : null;
  }

  /**
   * Stops taking work, gives the attempts in flight `shutdownGraceMs` to finish, cuts off the rest
   * (not recorded as attempts) and gives their leases back, so that the next owner takes them at
   * once. Messages not acknowledged are handed out again by the transport.
   */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.keeper.stop();
    this.runtime.close();
    const graceOver = await Promise.race([this.runtime.drained().then(() => false), delay(this.deps.options.shutdownGraceMs).then(() => true)]);
    if (graceOver) {
      this.runtime.cutOff();
      await this.runtime.drained();
    }
    const leased = [...this.lanes.values()].flatMap((lane) => [...new Set(lane.held.values())].filter((w) => w.stored !== false && w.state !== 'done'));
    await this.deps.parked.release(leased.flatMap((w) => w.ids)).catch((err) => this.deps.log.warn({ err }, 'dispatcher: could not give leases back; they return when they run out'));
    await this.flushHealth();
    this.pace.stop();
  }

  private laneFor(channelId: string, orgId: string, partition: number, channel?: ChannelState): ChannelLane {
    let lane = this.lanes.get(channelId);
    if (!lane) {
      const settings = channel?.circuitBreaker ?? this.deps.channels.current(channelId)?.circuitBreaker ?? DEFAULT_BREAKER;
      lane = new ChannelLane(channelId, orgId, partition, new CircuitBreaker(settings), this.deps.options, () => newId('bat'), Date.now(), this.owned.has(partition));
      this.lanes.set(channelId, lane);
    }
    return lane;
  }

  private inMemory(d: Delivery): boolean {
    return this.lanes.get(d.request.channelId)?.held.has(d.request.deliveryId) ?? false;
  }

  /** The hold guard's question, put to each lane of `works`; resolves once their hand-overs are written. */
  private async holdCheck(works: Work[], everything: boolean): Promise<void> {
    const byLane = new Map<ChannelLane, Work[]>();
    for (const w of works) {
      const lane = this.lanes.get(w.channelId);
      if (lane) byLane.set(lane, [...(byLane.get(lane) ?? []), w]);
    }
    const gather = new Gather({ mergeWrites: false });
    for (const [lane, ws] of byLane) this.runtime.dispatch(lane, { kind: 'holdCheck', works: ws, everything }, { gather });
    await Promise.all(gather.waits);
  }

  /** Every half `holdMs`: the event loop's lag, then the lanes with requests in flight look for slow ones. */
  private watchSlow(): void {
    this.pace.sample();
    const gather = new Gather({ mergeWrites: false });
    for (const lane of [...this.runtime.busy]) this.runtime.dispatch(lane, { kind: 'slowCheck' }, { gather });
    this.runtime.announce(gather.announce);
  }

  private flushHealth(): Promise<void> {
    return this.reporter.flush(this.lanes.values());
  }

  private forgetIdleLanes(): void {
    const now = Date.now();
    const before = now - this.deps.options.idleLaneMs;
    for (const [id, lane] of this.lanes) {
      if (!lane.idle(now) || lane.lastUsedAt >= before) continue;
      this.runtime.forget(lane);
      this.reporter.forget(id);
      this.lanes.delete(id);
      this.deps.gateway.forget(id);
    }
  }

  private every(ms: number, task: () => unknown): void {
    const timer = setInterval(() => {
      if (!this.runtime.isClosing) void Promise.resolve(task()).catch(() => undefined);
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
