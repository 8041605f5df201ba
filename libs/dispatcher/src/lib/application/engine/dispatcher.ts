import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ChannelState } from '@waybill/contracts';
import {
  admit, Admission, ChannelGate, classify, countsAsBreakerFailure, nextRetry, parseRetryAfter, policyDeadline, throttleAfter,
} from '@waybill/delivery';
import { delay, eventMessage, OutgoingMessage } from '@waybill/messaging';
import { newId } from '@waybill/platform';
import { BreakerClock, ChannelBreaker, CircuitOpenError, CircuitTransition } from '../../adapters/breaker/channel-breaker';
import type { ChannelHealth, ChannelHealthStore } from '../../adapters/db/channel-health.repository';
import type { ParkEntry, ParkedDeliveries, ParkedRow } from '../../adapters/db/parked-deliveries.repository';
import type { DispatcherGauges, DispatcherMetrics } from '../../adapters/metrics/dispatcher.metrics';
import type { ExchangeResult } from '../../adapters/partner/partner-client';
import type { PartnerGateway } from '../../adapters/partner/partner-gateway';
import { buildBatchRequest, buildPartnerRequest } from '../../domain/partner-request';
import type { DispatcherOptions } from '../../dispatcher.options';
import { ChannelLane } from './channel-lane';
import * as ev from './delivery-events';
import type { EventPublisher } from './event-publisher';
import { InFlightBudget, Slot } from './in-flight-budget';
import { RecentLatency } from './recent-latency';
import { Delivery, Work } from './work';

/** For this long after a partition is assigned, its deliveries are checked against the parked lines (ms). */
const RECOVERY_WINDOW_MS = 30_000;
/** Finished deliveries are remembered this long (ms): far longer than any message waits for its acknowledgement. */
const FINISHED_KEEP_MS = 60 * 60_000;
const FINISHED_SWEEP_MS = 10 * 60_000;
/** Most rows a sweep expires at once. */
const EXPIRY_BATCH = 500;
/** How often idle channels are looked for (ms). */
const IDLE_SWEEP_MS = 60_000;
/** How often this instance says it is alive (ms); see `STALE_AFTER_S`. */
const HEARTBEAT_MS = 2_000;

/** What the dispatcher needs of its surroundings. */
export interface DispatcherDeps {
  /** The channel replica: `current` on the hot path, `channel` (catching up) on a miss. */
  channels: {
    current(id: string): ChannelState | undefined;
    channel(orgId: string, id: string): Promise<ChannelState | undefined>;
  };
  gateway: PartnerGateway;
  parked: ParkedDeliveries;
  health: ChannelHealthStore;
  pull: { enqueue(deliveries: Delivery[]): Promise<void> };
  publisher: EventPublisher;
  metrics: DispatcherMetrics;
  log: Logger;
  options: DispatcherOptions;
  /** Embedded mode: this is the only instance, so leases left in the database are its dead run's. */
  soleInstance: boolean;
}

/** What an attempt's answer leads to: its events, and the next attempt when there is one. */
interface Plan {
  events: OutgoingMessage[];
  retry: { attempt: number; dueAt: Date; expiresAt: Date } | null;
}

/**
 * The dispatcher's core: one lane per channel (its breaker, limits, queue and parked line), the
 * instance's budget of requests in flight, and the commit point of `waybill.deliveries`.
 *
 * A batch of `delivery.requested` is handed in by `accept`, which resolves once every delivery of
 * it is finished (its events published) or parked durably; only then may its messages be
 * acknowledged. A healthy channel's deliveries are attempted at once, in memory, with no database
 * write; anything that would hold the batch up — work for a channel that is slow, open, disabled
 * or throttled, a request in flight too long, a burst far beyond a channel's concurrency — goes to
 * the channel's parked line, from which the owner of its partition takes it again as the channel
 * has room, through the same breaker and limits.
 */
export class Dispatcher implements DispatcherGauges {
  private readonly lanes = new Map<string, ChannelLane>();
  /** Deliveries held in memory, by delivery id, with the work that carries them. */
  private readonly active = new Map<string, Work>();
  private readonly budget: InFlightBudget;
  private readonly clock = new BreakerClock();
  private owned = new Set<number>();
  private readonly recovering = new Map<number, number>();
  private readonly running = new Set<Promise<void>>();
  /** Works in flight, watched for slowness. */
  private readonly inFlightWorks = new Set<Work>();
  private closing = false;
  /** What requests that got an answer take across all channels, lately. */
  private readonly latency = new RecentLatency();
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private expiryTimer: NodeJS.Timeout | null = null;
  /**
   * How late this process's event loop runs lately (p99 over the last half `holdMs`, ms): an answer
   * that waited for a busy loop is not the partner's slowness, so the slow bound grows by it.
   */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private loopLagMs = 0;

  constructor(private readonly deps: DispatcherDeps) {
    this.budget = new InFlightBudget(deps.options.maxInFlight - deps.options.slowShare, deps.options.slowShare);
  }

  /** Requests in flight across every channel of this instance. */
  inFlight(): number {
    return this.budget.inFlight;
  }

  /** Deliveries waiting in the channels this instance owns. */
  waiting(): number {
    let n = 0;
    for (const lane of this.lanes.values()) if (this.owned.has(lane.partition)) n += lane.waiting;
    return n;
  }

  circuits(): Record<'CLOSED' | 'OPEN' | 'HALF_OPEN', number> {
    const counts = { CLOSED: 0, OPEN: 0, HALF_OPEN: 0 };
    for (const lane of this.lanes.values()) if (this.owned.has(lane.partition)) counts[lane.breaker.state]++;
    return counts;
  }

  async start(): Promise<void> {
    await this.deps.parked.beat();
    if (this.deps.soleInstance) await this.deps.parked.releaseAll();
    // Alive: the leases this instance takes hold while it beats (a dead one's are taken back).
    this.every(HEARTBEAT_MS, () =>
      this.deps.parked.beat().catch((err) => this.deps.log.warn({ err }, 'dispatcher: heartbeat failed; its leases may be taken over')),
    );
    this.every(this.deps.options.healthFlushMs, () => this.flushHealth());
    this.loopDelay.enable();
    this.every(Math.max(10, Math.floor(this.deps.options.holdMs / 2)), () => {
      this.loopLagMs = this.loopDelay.percentile(99) / 1e6;
      this.loopDelay.reset();
      this.watchSlow();
    });
    this.every(IDLE_SWEEP_MS, () => this.forgetIdleLanes());
    this.every(FINISHED_SWEEP_MS, () =>
      this.deps.parked.forgetFinished(FINISHED_KEEP_MS).catch((err) => this.deps.log.warn({ err }, 'dispatcher: forgetting finished deliveries failed')),
    );
  }

  /**
   * This instance now owns `partitions` of `waybill.deliveries` (and only those): it takes the
   * parked lines of the new ones and stops taking those of the others.
   */
  assign(partitions: number[]): void {
    const next = new Set(partitions);
    const added = partitions.filter((p) => !this.owned.has(p));
    this.owned = next;
    // Partitions taken away (a rebalance) while their messages' works are here: the new owner reads
    // those messages again at once. Parked now — in flight leased to this instance, the rest in
    // their lines — the new owner finds them parked and leaves them to the line, instead of
    // sending them a second time.
    const leaving = new Set<Work>();
    for (const work of this.active.values()) {
      if (work.stored === null && !work.isReleased && work.deliveries.some((d) => !next.has(d.partition))) leaving.add(work);
    }
    const movable = [...leaving].filter((w) => w.state === 'buffering' || w.state === 'queued' || w.state === 'running');
    if (movable.length > 0) {
      this.handOver(movable, Date.now()).catch((err) => this.deps.log.warn({ err }, 'dispatcher: parking the works of partitions taken away failed'));
    }
    for (const lane of this.lanes.values()) {
      if (!next.has(lane.partition) && lane.wakeTimer) {
        clearTimeout(lane.wakeTimer);
        lane.wakeTimer = null;
      }
    }
    // Every (re)join may hand out again what was handled but not committed (a rebalance, a broker
    // restarted, this consumer restarted): each assigned partition is looked at for a while.
    const until = Date.now() + RECOVERY_WINDOW_MS;
    for (const p of partitions) this.recovering.set(p, until);
    if (added.length === 0) return;
    void this.loadLines(added);
  }

  /**
   * Takes a batch of `delivery.requested`. Resolves once each is finished or parked durably: the
   * commit point. Never waits on a slow partner (see `hold`).
   */
  async accept(deliveries: Delivery[]): Promise<void> {
    const now = new Date();
    const hot: Work[] = [];
    const line: ParkEntry[] = [];
    const lineEvents: OutgoingMessage[] = [];
    const lined = new Map<ChannelLane, number>();
    const finals: OutgoingMessage[] = [];
    const pulls: Delivery[] = [];
    const touched = new Set<ChannelLane>();
    // A channel the replica does not hold is looked up (catching up, bounded) once per batch.
    const missed = new Map<string, Promise<ChannelState | undefined>>();
    const lookUp = (d: Delivery) => {
      let found = missed.get(d.request.channelId);
      if (!found) missed.set(d.request.channelId, (found = this.deps.channels.channel(d.orgId, d.request.channelId)));
      return found;
    };
    const failed: Delivery[] = [];
    for (const d of await this.withoutSettled(deliveries)) {
      const held = this.active.get(d.request.deliveryId);
      if (held) {
        hot.push(held); // read again (a rebalance): the work in memory answers for it
        continue;
      }
      const channel = this.deps.channels.current(d.request.channelId) ?? (await lookUp(d));
      const lane = channel?.type === 'HTTP' ? this.laneFor(channel.id, d.orgId, d.partition, channel) : null;
      const deadline = channel ? policyDeadline(channel.retryPolicy, d.firstSeenAt) : now;
      let admission = admit(lane ? this.gate(lane, channel) : gateOf(channel), deadline, now);
      if (admission.kind === 'send' && lane && channel?.batch && !this.buffersInMemory(channel.batch)) admission = { kind: 'line' };
      switch (admission.kind) {
        case 'send':
          hot.push(this.enqueue(lane as ChannelLane, channel as ChannelState, d));
          touched.add(lane as ChannelLane);
          break;
        case 'pull':
          pulls.push(d);
          break;
        case 'line':
        case 'wait':
          line.push({ delivery: d, batchId: null, attempt: 1, dueAt: now, leasedUntil: null, expiresAt: deadline });
          if (admission.kind === 'wait') lineEvents.push(ev.deferred(d, admission.reason, admission.until, now));
          if (lane) lined.set(lane, (lined.get(lane) ?? 0) + 1);
          break;
        case 'fail':
          finals.push(...this.failEvents(d, admission, 0, null, now));
          failed.push(d);
          break;
        default:
          assertNever(admission);
      }
    }
    for (const lane of touched) this.pump(lane);
    await Promise.all([
      pulls.length > 0 ? this.deps.pull.enqueue(pulls) : undefined,
      line.length > 0 ? this.parkInLine(line, lineEvents, lined) : undefined,
      finals.length > 0 ? this.deps.publisher.publish(finals).then(() => this.noteFinished(failed, finals)) : undefined,
      this.hold(hot),
    ]);
  }

  /** The health of a channel whose partition this instance owns; null when another owns it. */
  healthOf(channelId: string): ChannelHealth | null {
    const lane = this.lanes.get(channelId);
    return lane && this.owned.has(lane.partition) ? this.describe(lane) : null;
  }

  /**
   * Stops taking work, gives the attempts in flight `shutdownGraceMs` to finish, cuts off the rest
   * (not recorded as attempts) and gives their leases back, so that the next owner takes them at
   * once. Messages not acknowledged are handed out again by the transport.
   */
  async stop(): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const lane of this.lanes.values()) {
      if (lane.wakeTimer) clearTimeout(lane.wakeTimer);
      if (lane.openBatchTimer) clearTimeout(lane.openBatchTimer);
    }
    const settled = Promise.allSettled([...this.running]);
    const graceOver = await Promise.race([settled.then(() => false), delay(this.deps.options.shutdownGraceMs).then(() => true)]);
    if (graceOver) {
      this.abort.abort();
      await Promise.allSettled([...this.running]);
    }
    const leased = [...new Set(this.active.values())].filter((w) => w.stored && w.state !== 'done');
    await this.deps.parked.release(leased.flatMap((w) => w.deliveries.map((d) => d.request.deliveryId))).catch((err) =>
      this.deps.log.warn({ err }, 'dispatcher: could not give leases back; they return when they run out'),
    );
    await this.flushHealth().catch(() => undefined);
    this.clock.stop();
    this.loopDelay.disable();
    for (const lane of this.lanes.values()) lane.breaker.dispose();
  }

  // ——— lanes ———

  private laneFor(channelId: string, orgId: string, partition: number, channel?: ChannelState): ChannelLane {
    let lane = this.lanes.get(channelId);
    if (!lane) {
      const settings = channel?.circuitBreaker ?? this.deps.channels.current(channelId)?.circuitBreaker ?? DEFAULT_BREAKER;
      const breaker = new ChannelBreaker(channelId, settings, this.clock, (t) => this.onCircuit(channelId, t));
      const created = new ChannelLane(channelId, orgId, partition, breaker);
      created.onRoom = () => {
        this.pump(created);
        this.wake(created);
      };
      lane = created;
      this.lanes.set(channelId, lane);
    }
    lane.lastUsedAt = Date.now();
    return lane;
  }

  private gate(lane: ChannelLane, channel: ChannelState | undefined): ChannelGate {
    if (channel) lane.breaker.configure(channel.circuitBreaker);
    return {
      ...gateOf(channel),
      circuit: lane.breaker.state,
      halfOpensAt: lane.breaker.halfOpensAt,
      probeInFlight: lane.probeRunning,
      throttledUntil: lane.throttle.until,
      slow: lane.slow,
      backlog: lane.line.due > 0,
    };
  }

  private limitOf(channel: ChannelState | undefined): number {
    return Math.max(1, Math.min(channel?.maxConcurrency ?? 1, this.deps.options.channelShare));
  }

  /** A batch that fills within the hold time is filled in memory; a longer wait belongs to the parked line. */
  private buffersInMemory(batch: NonNullable<ChannelState['batch']>): boolean {
    return batch.maxItems === 1 || batch.maxWaitMs <= this.deps.options.holdMs / 2;
  }

  private enqueue(lane: ChannelLane, channel: ChannelState, d: Delivery): Work {
    if (!channel.batch) {
      const work = new Work(lane.id, [d], null, 1, { stored: false });
      lane.queue.push(work);
      this.active.set(d.request.deliveryId, work);
      return work;
    }
    let open = lane.openBatch;
    if (open && open.deliveries[0].request.format !== d.request.format) {
      this.flushBatch(lane);
      open = null;
    }
    if (!open) {
      open = new Work(lane.id, [], newId('bat'), 1, { stored: false, state: 'buffering' });
      lane.openBatch = open;
      lane.openBatchTimer = setTimeout(() => this.flushBatch(lane), channel.batch.maxWaitMs);
    }
    open.deliveries.push(d);
    this.active.set(d.request.deliveryId, open);
    if (open.deliveries.length >= channel.batch.maxItems) this.flushBatch(lane);
    return open;
  }

  private flushBatch(lane: ChannelLane): void {
    const work = lane.openBatch;
    if (!work) return;
    if (lane.openBatchTimer) clearTimeout(lane.openBatchTimer);
    lane.openBatch = null;
    lane.openBatchTimer = null;
    work.state = 'queued';
    lane.queue.push(work);
    this.pump(lane);
  }

  /**
   * Starts what the lane's queue holds, in order, as far as the channel's limit and the budget
   * allow. When the channel cannot take its queue now (open, disabled, throttled, slow, gone), the
   * queue goes to the parked line (or the pull queue, or its end).
   */
  private pump(lane: ChannelLane): void {
    while (lane.queue.length > 0 && !this.closing) {
      const head = lane.queue[0];
      const channel = this.deps.channels.current(lane.id);
      const now = new Date();
      const gate = this.gate(lane, channel);
      // Works taken from the line are the line: only the channel's own state can hold them.
      const deadline = channel ? policyDeadline(channel.retryPolicy, head.firstSeenAt) : now;
      const admission = admit(head.stored ? { ...gate, backlog: false, slow: false } : gate, deadline, now);
      if (admission.kind !== 'send') {
        // Only shutdown stops a hand-off (it retries its writes): what it holds is handed out again.
        this.handOff(lane, lane.queue.splice(0), admission).catch((err) => this.deps.log.warn({ err, channelId: lane.id }, 'dispatcher: hand-off cut short'));
        return;
      }
      if (lane.running >= this.limitOf(channel)) return;
      const slot = this.budget.take(lane.slow);
      if (!slot) {
        this.budget.whenRoom(lane.onRoom);
        return;
      }
      lane.queue.shift();
      this.launch(lane, head, slot, now);
    }
  }

  private launch(lane: ChannelLane, work: Work, slot: Slot, now: Date): void {
    work.state = 'running';
    work.startedAt = now.getTime();
    work.slot = slot;
    if (lane.breaker.state === 'HALF_OPEN') {
      work.probe = true;
      lane.probeRunning = true;
    }
    lane.running++;
    lane.dirty = true;
    lane.lastUsedAt = now.getTime();
    this.inFlightWorks.add(work);
    const run = this.run(lane, work)
      .catch(async (err) => {
        this.deps.log.error({ err, channelId: lane.id }, 'dispatcher: an attempt failed unexpectedly; its deliveries go back to the line');
        if (!work.isReleased || work.stored) await this.handOff(lane, [work], { kind: 'line' }).catch(() => undefined);
      })
      .finally(() => {
        this.running.delete(run);
        this.inFlightWorks.delete(work);
        lane.running--;
        this.budget.release(work.slot ?? slot);
        if (work.probe) lane.probeRunning = false;
        lane.dirty = true;
        this.pump(lane);
        this.wake(lane);
      });
    this.running.add(run);
  }

  /** One attempt of a work: through the channel's breaker, then its outcome made durable. */
  private async run(lane: ChannelLane, work: Work): Promise<void> {
    const channel = this.deps.channels.current(lane.id) as ChannelState; // pump checked it just now
    const at = new Date();
    let result: ExchangeResult;
    try {
      result = await lane.breaker.run(
        () =>
          this.deps.gateway.send(
            channel,
            (secrets) =>
              work.batchId
                ? buildBatchRequest(channel, work.batchId, work.deliveries.map((d) => d.request), work.attempt, secrets, new Date())
                : buildPartnerRequest(channel, work.deliveries[0].request, work.attempt, secrets, new Date()),
            this.abort.signal,
          ),
        (r) => countsAsBreakerFailure(r.exchange) && !this.abort.signal.aborted,
        describeResult,
      );
    } catch (err) {
      if (!(err instanceof CircuitOpenError)) throw err;
      work.state = 'queued';
      await this.handOff(lane, [work], { kind: 'wait', reason: 'CIRCUIT_OPEN', until: lane.breaker.halfOpensAt });
      return;
    }
    if (this.abort.signal.aborted && result.exchange.kind !== 'answered') return; // cut off by shutdown: not an attempt
    work.state = 'settling';
    this.observe(lane, result, at);
    await this.commit(lane, work, this.plan(work, channel, result, at));
  }

  /** What one answer says about the channel: its recent outcomes, whether it is slow, a 429's slow-down. */
  private observe(lane: ChannelLane, result: ExchangeResult, at: Date): void {
    const statusCode = result.exchange.kind === 'answered' ? result.exchange.statusCode : null;
    const outcome = classify(result.exchange);
    lane.record({ at: at.toISOString(), outcome, statusCode, durationMs: result.durationMs, error: result.error });
    this.deps.metrics.attempt(outcome, result.durationMs);
    const now = new Date();
    lane.throttle = throttleAfter(lane.throttle, { statusCode, retryAfterMs: parseRetryAfter(result.retryAfter, now) }, now);
    lane.latencyMs = lane.latencyMs === 0 ? result.durationMs : 0.8 * lane.latencyMs + 0.2 * result.durationMs;
    if (result.exchange.kind === 'timeout') lane.slow = true;
    else {
      this.latency.record(result.durationMs);
      if (result.durationMs < this.slowAfterMs()) lane.slow = false; // answered within the bound: not slow
    }
  }

  private plan(work: Work, channel: ChannelState, result: ExchangeResult, at: Date): Plan {
    const now = new Date();
    const outcome = classify(result.exchange);
    const statusCode = result.exchange.kind === 'answered' ? result.exchange.statusCode : null;
    const record: ev.AttemptRecord = {
      attempt: work.attempt,
      at,
      statusCode,
      outcome,
      durationMs: result.durationMs,
      error: result.error,
      responseExcerpt: result.excerpt,
    };
    const events = work.deliveries.map((d) => ev.attempted(d, record, now));
    const each = (f: (d: Delivery) => OutgoingMessage | OutgoingMessage[]) => events.push(...work.deliveries.flatMap(f));
    // An attempt whose answer ends the delivery says so itself (see `delivery.attempted` in the
    // fold): no terminal event beside it — one event per delivery, not two.
    if (outcome !== 'RETRYABLE') return { events, retry: null };
    const firstSeenAt = work.firstSeenAt;
    const decision = nextRetry(channel.retryPolicy, {
      attempt: work.attempt,
      firstAttemptAt: firstSeenAt,
      now,
      retryAfterMs: parseRetryAfter(result.retryAfter, now),
      random: Math.random(),
    });
    const last = result.error ?? (statusCode !== null ? `HTTP ${statusCode}` : null);
    if (!decision.retry) {
      each((d) => ev.spent(d, `${decision.reason}; last: ${last}`, work.attempt, last, now));
      return { events, retry: null };
    }
    each((d) => ev.retryScheduled(d, work.attempt + 1, decision.dueAt, now));
    return { events, retry: { attempt: work.attempt + 1, dueAt: decision.dueAt, expiresAt: policyDeadline(channel.retryPolicy, firstSeenAt) } };
  }

  /**
   * Makes an attempt's outcome durable: its events published, then its rows written — a work
   * taken from the line settles them (deleted, or back for the retry), a work that came straight
   * from `waybill.deliveries` parks its retry. (A crash in between repeats the attempt: at least once.)
   */
  private async commit(lane: ChannelLane, work: Work, plan: Plan): Promise<void> {
    const stored = work.stored ? await work.stored.then(() => true, () => false) : false;
    const ids = work.deliveries.map((d) => d.request.deliveryId);
    const r = plan.retry;
    // A delivery read from the log (not a parked row) that ends here is noted finished while its
    // events go out: read again after a crash, it is not sent again.
    if (!stored && !r) this.noteFinished(work.deliveries, plan.events);
    await this.durably(() => this.deps.publisher.publish(plan.events));
    if (stored) await this.durably(() => this.deps.parked.settle(ids, r));
    else if (r) {
      await this.durably(() =>
        this.deps.parked.park(work.deliveries.map((d) => ({ delivery: d, batchId: work.batchId, attempt: r.attempt, dueAt: r.dueAt, leasedUntil: null, expiresAt: r.expiresAt }))),
      );
      this.deps.metrics.parked('retry', work.deliveries.length);
    }
    if (r) this.noteParked(lane, work.deliveries.length, r.dueAt.getTime());
    this.finish(work);
  }

  /**
   * Hands works that will not go now to the channel's parked line (or the pull queue, or their
   * end), durably, and lets go of them.
   */
  private async handOff(lane: ChannelLane, works: Work[], admission: Admission): Promise<void> {
    if (works.length === 0) return;
    const now = new Date();
    const deliveries = works.flatMap((w) => w.deliveries);
    const stored = works.filter((w) => w.stored).flatMap((w) => w.deliveries.map((d) => d.request.deliveryId));
    switch (admission.kind) {
      case 'pull':
        await this.durably(() => this.deps.pull.enqueue(deliveries));
        await this.durably(() => this.deps.parked.settle(stored, null));
        break;
      case 'fail': {
        const events = works.flatMap((w) => w.deliveries.flatMap((d) => this.failEvents(d, admission, w.attempt - 1, null, now)));
        await this.durably(() => this.deps.publisher.publish(events));
        await this.durably(() => this.deps.parked.settle(stored, null));
        break;
      }
      case 'send':
      case 'line':
      case 'wait': {
        const channel = this.deps.channels.current(lane.id);
        const entries = works.flatMap((w) =>
          w.deliveries.map((d) => ({
            delivery: d,
            batchId: w.batchId,
            attempt: w.attempt,
            dueAt: now,
            leasedUntil: null,
            expiresAt: channel ? policyDeadline(channel.retryPolicy, d.firstSeenAt) : now,
          })),
        );
        if (admission.kind === 'wait') {
          const events = deliveries.map((d) => ev.deferred(d, admission.reason, admission.until, now));
          await this.durably(() => this.deps.publisher.publish(events));
        }
        await this.durably(() => this.deps.parked.park(entries));
        this.deps.metrics.parked(admission.kind === 'wait' ? 'wait' : 'line', deliveries.length);
        lane.line.due += deliveries.length;
        this.noteParked(lane, deliveries.length, now.getTime());
        break;
      }
      default:
        assertNever(admission);
    }
    for (const w of works) this.finish(w);
  }

  private finish(work: Work): void {
    work.state = 'done';
    for (const d of work.deliveries) if (this.active.get(d.request.deliveryId) === work) this.active.delete(d.request.deliveryId);
    work.markReleased();
  }

  /**
   * The commit point's bound. Waits for the batch's works, looking every `holdMs` for those that
   * would hold it up (`holdsUp`), and parks them: a request in flight too long (its channel is
   * slow: the row is leased, the attempt goes on and settles it when it ends), and works queued
   * behind a slow channel or a burst far beyond a channel's concurrency (they wait in its line).
   * A healthy channel that is merely busy keeps its works in memory: the batch waits for them,
   * which holds the partition back at the speed deliveries go, with no database write. After
   * `maxHoldMs`, whatever is left is parked.
   */
  private async hold(hot: Work[]): Promise<void> {
    if (hot.length === 0) return;
    const all = Promise.all(hot.map((w) => w.released));
    const started = Date.now();
    const works = [...new Set(hot)];
    while (!(await settlesWithin(all, this.deps.options.holdMs))) {
      const now = Date.now();
      const everything = now - started >= this.deps.options.maxHoldMs;
      const stragglers = works.filter((w) => !w.isReleased && (w.state === 'buffering' || w.state === 'queued' || w.state === 'running') && (everything || this.holdsUp(w, now)));
      if (stragglers.length > 0) await this.handOver(stragglers, now);
    }
  }

  /**
   * Whether a work would hold its batch up: its request is slow, its channel is, or it is queued
   * behind a burst far beyond its channel's concurrency — the rounds ahead of it would take more
   * than half of `maxHoldMs`, and far more than what requests take lately (its partition's other
   * channels should not wait for it). Waiting behind a busy, healthy channel for a few rounds is
   * the ordinary way of things, however loaded the instance is.
   */
  private holdsUp(work: Work, now: number): boolean {
    const lane = this.lanes.get(work.channelId) as ChannelLane;
    if (work.state === 'running') return now - work.startedAt >= this.slowAfterMs();
    if (lane.slow) return true;
    if (work.state === 'buffering') return false; // flushed within holdMs / 2
    const ahead = lane.queue.indexOf(work) + 1;
    const limit = this.limitOf(this.deps.channels.current(lane.id));
    return Math.ceil(ahead / limit) * lane.latencyMs > Math.max(this.deps.options.maxHoldMs / 2, 8 * this.latency.typical());
  }

  /** Parks works a batch will not wait for: running ones leased, the others waiting in their channel's line. */
  private async handOver(works: Work[], now: number): Promise<void> {
    const entries: ParkEntry[] = [];
    const waiting = new Map<Work, ChannelLane>();
    const running: Work[] = [];
    for (const work of works) {
      const lane = this.lanes.get(work.channelId) as ChannelLane;
      const channel = this.deps.channels.current(work.channelId);
      const expiresAt = (d: Delivery) => (channel ? policyDeadline(channel.retryPolicy, d.firstSeenAt) : new Date(now));
      const rows = (batchId: string | null, leasedUntil: Date | null) =>
        work.deliveries.map((d) => ({ delivery: d, batchId, attempt: work.attempt, dueAt: new Date(now), leasedUntil, expiresAt: expiresAt(d) }));
      if (work.state === 'running') {
        entries.push(...rows(work.batchId, new Date(work.startedAt + (channel?.timeoutMs ?? 30_000) + this.deps.options.leaseMarginMs)));
        running.push(work);
        if (now - work.startedAt >= this.slowAfterMs()) lane.slow = true;
        continue;
      }
      if (work.state === 'buffering' && lane.openBatch === work) {
        if (lane.openBatchTimer) clearTimeout(lane.openBatchTimer);
        lane.openBatch = null;
        lane.openBatchTimer = null;
      }
      const at = lane.queue.indexOf(work);
      if (at >= 0) lane.queue.splice(at, 1);
      // A batch still filling has no id yet as far as the partner knows: its items join the line loose.
      entries.push(...rows(work.state === 'buffering' ? null : work.batchId, null));
      work.state = 'queued';
      waiting.set(work, lane);
    }
    const stored = this.deps.parked.park(entries);
    for (const w of running) w.stored = stored;
    await stored;
    this.deps.metrics.parked('handover', entries.length);
    for (const [work, lane] of waiting) {
      lane.line.due += work.deliveries.length;
      this.noteParked(lane, work.deliveries.length, now);
      this.finish(work);
    }
    for (const w of running) w.markReleased();
  }

  private async parkInLine(entries: ParkEntry[], events: OutgoingMessage[], lanes: Map<ChannelLane, number>): Promise<void> {
    await this.deps.publisher.publish(events);
    await this.deps.parked.park(entries);
    this.deps.metrics.parked('wait', events.length); // one deferred event for each that waits
    this.deps.metrics.parked('line', entries.length - events.length);
    const now = Date.now();
    for (const [lane, n] of lanes) {
      lane.line.due += n;
      this.noteParked(lane, n, now);
    }
  }

  /**
   * Deliveries of a partition just taken over (read again: their reader died before acknowledging
   * them) that are in a parked line already stay there, and those finished already are not sent again.
   */
  private async withoutSettled(deliveries: Delivery[]): Promise<Delivery[]> {
    const now = Date.now();
    const suspects = deliveries.filter((d) => (this.recovering.get(d.partition) ?? 0) > now && !this.active.has(d.request.deliveryId));
    if (suspects.length === 0) return deliveries;
    const ids = suspects.map((d) => d.request.deliveryId);
    const [parked, finished] = await Promise.all([this.deps.parked.existing(ids), this.deps.parked.finishedOf(ids)]);
    if (parked.size === 0 && finished.size === 0) return deliveries;
    // Finished before the crash: its outcome is published again (consumers dedupe it), the partner not asked again.
    const republish = [...finished.values()].flat();
    if (republish.length > 0) await this.durably(() => this.deps.publisher.publish(republish));
    return deliveries.filter((d) => !parked.has(d.request.deliveryId) && !finished.has(d.request.deliveryId));
  }

  /** Best effort: a lost note only means a repeat after a crash, which delivery at least once allows. */
  private noteFinished(deliveries: Delivery[], events: OutgoingMessage[]): void {
    const entries = deliveries.map((d) => ({
      deliveryId: d.request.deliveryId,
      events: events.filter((m) => (m.value as { data?: { deliveryId?: string } } | null)?.data?.deliveryId === d.request.deliveryId),
    }));
    this.deps.parked.noteFinished(entries).catch((err) => this.deps.log.warn({ err }, 'dispatcher: noting finished deliveries failed'));
  }

  private failEvents(d: Delivery, admission: Extract<Admission, { kind: 'fail' }>, attempts: number, lastError: string | null, now: Date): OutgoingMessage[] {
    return admission.exhausted ? ev.spent(d, admission.reason, attempts, lastError, now) : [ev.failed(d, admission.reason, now)];
  }

  // ——— the parked line ———

  private noteParked(lane: ChannelLane, count: number, dueAt: number): void {
    lane.line.parked += count;
    lane.line.nextDueAt = lane.line.nextDueAt === null ? dueAt : Math.min(lane.line.nextDueAt, dueAt);
    lane.notBefore = null;
    lane.dirty = true;
    this.scheduleExpiry();
    this.wake(lane);
  }

  /** Takes from the channel's line as much as it has room for, when its line has something due. */
  private wake(lane: ChannelLane): void {
    if (lane.claiming || this.closing || !this.owned.has(lane.partition)) return;
    const now = Date.now();
    if (lane.notBefore !== null && lane.notBefore > now) return this.wakeAt(lane, lane.notBefore);
    const due = lane.line.due > 0 || (lane.line.nextDueAt !== null && lane.line.nextDueAt <= now);
    if (!due) return this.wakeAt(lane, lane.line.nextDueAt);
    const channel = this.deps.channels.current(lane.id);
    const room = this.roomFor(lane, channel, now);
    if (room <= 0) return;
    lane.claiming = true;
    void this.claim(lane, channel, room)
      .catch((err) => {
        this.deps.log.warn({ err, channelId: lane.id }, 'dispatcher: taking from the parked line failed; will try again');
        this.wakeAt(lane, Date.now() + 1_000);
      })
      .finally(() => {
        lane.claiming = false;
      });
  }

  /** How many works the lane can take from its line now; arranges to look again when it is blocked. */
  private roomFor(lane: ChannelLane, channel: ChannelState | undefined, now: number): number {
    // A deleted channel, or one that turned PULL: its line is moved on (failed, or to the pull queue).
    if (!channel || channel.type !== 'HTTP') return 50;
    if (!channel.enabled) {
      this.wakeAt(lane, now + this.deps.options.disabledRecheckMs);
      return 0;
    }
    switch (lane.breaker.state) {
      case 'OPEN':
        return 0; // its half-open wakes the lane
      case 'HALF_OPEN':
        return lane.probeRunning || lane.running > 0 || lane.queue.length > 0 ? 0 : 1;
      case 'CLOSED':
        break;
    }
    if (lane.throttle.until && lane.throttle.until.getTime() > now) {
      this.wakeAt(lane, lane.throttle.until.getTime());
      return 0;
    }
    // Taken a little ahead (up to twice the channel's limit), so that claims come in rounds, not
    // one per finished request; a lane with that much at hand takes nothing.
    const limit = this.limitOf(channel);
    let taken = 0;
    for (const w of lane.queue) if (w.stored) taken++;
    const wanted = 2 * limit - lane.running - taken;
    if (taken >= limit || wanted <= 0) return 0;
    const budget = this.budget.room(lane.slow);
    if (budget <= 0) this.budget.whenRoom(lane.onRoom);
    return Math.min(wanted, budget + limit);
  }

  private async claim(lane: ChannelLane, channel: ChannelState | undefined, room: number): Promise<void> {
    // Long enough for the ones taken ahead to wait their turn and run.
    const leasedUntil = new Date(Date.now() + 2 * (channel?.timeoutMs ?? 30_000) + this.deps.options.leaseMarginMs);
    const works: Work[] = [];
    let readyAt: number | null = null;
    const batch = channel?.type === 'HTTP' ? channel.batch : null;
    if (batch) {
      for (const rows of await this.deps.parked.claimBatches(lane.id, room, leasedUntil)) works.push(this.workOf(lane, rows, rows[0].batchId));
      while (works.length < room) {
        const loose = await this.deps.parked.claimLoose(lane.id, batch, newId('bat'), leasedUntil);
        if (loose.rows.length === 0) {
          readyAt = loose.readyAt;
          break;
        }
        works.push(this.workOf(lane, loose.rows, loose.rows[0].batchId));
      }
    } else {
      for (const row of await this.deps.parked.claim(lane.id, room, leasedUntil)) works.push(this.workOf(lane, [row], null));
    }
    const taken = works.reduce((n, w) => n + w.deliveries.length, 0);
    if (works.length < room) lane.line = await this.deps.parked.lineStats(lane.id);
    else {
      lane.line.due = Math.max(0, lane.line.due - taken);
      lane.line.parked = Math.max(0, lane.line.parked - taken);
    }
    lane.notBefore = readyAt;
    lane.dirty = true;
    const fresh = works.filter((w) => w.deliveries.every((d) => !this.active.has(d.request.deliveryId)));
    for (const w of fresh) for (const d of w.deliveries) this.active.set(d.request.deliveryId, w);
    lane.queue.unshift(...fresh);
    this.pump(lane);
    if (readyAt !== null) this.wakeAt(lane, readyAt);
    else if (works.length < room) this.wakeAt(lane, lane.line.nextDueAt);
  }

  private workOf(lane: ChannelLane, rows: ParkedRow[], batchId: string | null): Work {
    return new Work(lane.id, rows.map((r) => r.delivery), batchId, rows[0].attempt, { stored: true });
  }

  private wakeAt(lane: ChannelLane, at: number | null): void {
    if (lane.wakeTimer) clearTimeout(lane.wakeTimer);
    lane.wakeTimer = null;
    if (at === null || this.closing) return;
    lane.wakeTimer = setTimeout(() => {
      lane.wakeTimer = null;
      this.wake(lane);
    }, Math.max(0, at - Date.now()));
    lane.wakeTimer.unref();
  }

  private async loadLines(partitions: number[]): Promise<void> {
    for (let failures = 0; !this.closing; failures++) {
      try {
        for (const l of await this.deps.parked.lines(partitions)) {
          if (!this.owned.has(l.partition)) continue;
          const lane = this.laneFor(l.channelId, l.orgId, l.partition);
          lane.line = { due: l.due, parked: l.parked, nextDueAt: l.nextDueAt };
          lane.dirty = true;
          this.wake(lane);
        }
        this.scheduleExpiry(0);
        return;
      } catch (err) {
        this.deps.log.warn({ err, partitions }, 'dispatcher: could not read the parked lines of new partitions; will try again');
        await delay(Math.min(5_000, 200 * 2 ** failures));
      }
    }
  }

  /** Looks for waiting deliveries whose retry policy ran out, while any line holds something. */
  private scheduleExpiry(inMs = this.deps.options.expirySweepMs): void {
    if (this.expiryTimer || this.closing) return;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      void this.expire();
    }, inMs);
    this.expiryTimer.unref();
  }

  private async expire(): Promise<void> {
    const partitions = [...this.owned];
    if (partitions.length === 0) return;
    try {
      const now = new Date();
      const rows = await this.deps.parked.expire(partitions, EXPIRY_BATCH, (expired) =>
        expired.flatMap((r) => ev.spent(r.delivery, "the retry policy's time ran out while the delivery waited", r.attempt - 1, null, now)),
      );
      for (const r of rows) {
        const lane = this.lanes.get(r.delivery.request.channelId);
        if (!lane) continue;
        lane.line.parked = Math.max(0, lane.line.parked - 1);
        lane.line.due = Math.max(0, lane.line.due - 1);
        lane.dirty = true;
      }
      if (rows.length === EXPIRY_BATCH) return this.scheduleExpiry(0);
    } catch (err) {
      this.deps.log.warn({ err }, 'dispatcher: expiring waiting deliveries failed; will try again');
    }
    if ([...this.lanes.values()].some((l) => l.line.parked > 0)) this.scheduleExpiry();
  }

  // ——— circuit and health ———

  private onCircuit(channelId: string, t: CircuitTransition): void {
    const lane = this.lanes.get(channelId);
    if (!lane) return;
    lane.dirty = true;
    this.deps.metrics.circuit(t.to);
    const alert =
      t.to === 'OPEN'
        ? eventMessage('channel.circuit-opened.v1', { orgId: lane.orgId, key: channelId, data: { channelId, at: t.at.toISOString(), reason: t.reason } }, t.at)
        : t.to === 'CLOSED'
          ? eventMessage('channel.circuit-closed.v1', { orgId: lane.orgId, key: channelId, data: { channelId, at: t.at.toISOString() } }, t.at)
          : null;
    this.deps.log.info({ channelId, circuit: t.to, ...(t.to === 'OPEN' ? { reason: t.reason } : {}) }, `channel circuit ${t.to}`);
    if (alert) {
      void this.durably(() => this.deps.publisher.publish([alert])).catch((err) =>
        this.deps.log.error({ err, channelId }, 'dispatcher: a circuit alert could not be published'),
      );
    }
    void this.flushHealth();
    if (t.to !== 'OPEN') {
      this.pump(lane);
      this.wake(lane);
    }
  }

  private describe(lane: ChannelLane): ChannelHealth {
    const until = lane.throttle.until;
    return {
      channelId: lane.id,
      circuit: lane.breaker.state,
      inFlight: lane.running,
      waiting: lane.waiting,
      throttledUntil: until && until.getTime() > Date.now() ? until.toISOString() : null,
      nextProbeAt: lane.breaker.halfOpensAt?.toISOString() ?? null,
      lastOutcomes: lane.lastOutcomes(),
      updatedAt: new Date().toISOString(),
    };
  }

  /**
   * Stores the health of the channels whose summary changed (circuit, throttle, slowness, work
   * waiting), and of the others that changed at most every `healthRefreshMs`: thousands of busy
   * channels must not mean thousands of rows written a second.
   */
  private async flushHealth(): Promise<void> {
    const now = Date.now();
    const due: { lane: ChannelLane; summary: string }[] = [];
    for (const lane of this.lanes.values()) {
      if (!lane.dirty || !this.owned.has(lane.partition)) continue;
      const summary = lane.summary(now);
      if (summary !== lane.storedSummary || now - lane.storedAt >= this.deps.options.healthRefreshMs) due.push({ lane, summary });
    }
    if (due.length === 0) return;
    for (const { lane, summary } of due) {
      lane.dirty = false;
      lane.storedSummary = summary;
      lane.storedAt = now;
    }
    try {
      await this.deps.health.save(due.map(({ lane }) => ({ ...this.describe(lane), orgId: lane.orgId })));
    } catch (err) {
      for (const { lane } of due) {
        lane.dirty = true;
        lane.storedSummary = '';
      }
      this.deps.log.warn({ err }, 'dispatcher: storing channel health failed; will try again');
    }
  }

  /**
   * How long a request may be in flight before its channel counts as slow: `holdMs`, or four times
   * what requests take across all channels lately when that is longer — an instance short of CPU
   * makes every request slower, and that must not make every channel "slow" — plus how late the
   * event loop runs lately, for the same reason.
   */
  private slowAfterMs(): number {
    return Math.max(this.deps.options.holdMs, 4 * this.latency.typical()) + this.loopLagMs;
  }

  /**
   * A channel whose request has been in flight for `slowAfterMs` is slow: its later deliveries join its
   * parked line, and its requests in flight move to the slow pool of the budget, leaving the normal
   * pool to healthy channels.
   */
  private watchSlow(): void {
    const since = Date.now() - this.slowAfterMs();
    const slowed = new Set<ChannelLane>();
    this.announceStarted(since);
    for (const work of this.inFlightWorks) {
      if (work.slot !== 'normal') continue;
      const lane = this.lanes.get(work.channelId);
      if (!lane) continue;
      if (!lane.slow && work.startedAt <= since) {
        lane.slow = true;
        lane.dirty = true;
      }
      if (lane.slow) {
        work.slot = this.budget.demote();
        slowed.add(lane);
      }
    }
    for (const lane of slowed) this.pump(lane);
  }

  /**
   * Requests in flight since `since` or longer are shown SENDING (`delivery.started`): announced
   * once each, so a hanging partner's transaction does not look untouched for its whole timeout,
   * and a request answered quickly costs no event.
   */
  private announceStarted(since: number): void {
    const events: OutgoingMessage[] = [];
    const now = new Date();
    for (const work of this.inFlightWorks) {
      if (work.announced || work.startedAt > since) continue;
      work.announced = true;
      for (const d of work.deliveries) events.push(ev.started(d, work.attempt, new Date(work.startedAt), now));
    }
    if (events.length > 0) {
      void this.deps.publisher.publish(events).catch((err) => this.deps.log.warn({ err }, 'dispatcher: announcing slow attempts failed'));
    }
  }

  private forgetIdleLanes(): void {
    const before = Date.now() - this.deps.options.idleLaneMs;
    for (const [id, lane] of this.lanes) {
      if (lane.idle && lane.lastUsedAt < before && !lane.claiming) {
        lane.breaker.dispose();
        if (lane.wakeTimer) clearTimeout(lane.wakeTimer);
        this.lanes.delete(id);
        this.deps.gateway.forget(id);
      }
    }
  }

  // ——— helpers ———

  /** Runs `write` until it succeeds (backing off), or until shutdown. */
  private async durably(write: () => Promise<void>): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        return await write();
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        this.deps.log.warn({ err }, 'dispatcher: a write failed; will try again');
        await delay(Math.min(5_000, 100 * 2 ** failures), this.abort.signal);
      }
    }
  }

  private every(ms: number, task: () => unknown): void {
    const timer = setInterval(() => {
      if (!this.closing) void Promise.resolve(task()).catch(() => undefined);
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

const DEFAULT_BREAKER = { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 };

/** The gate of a channel that has no lane (never attempted here): closed, nothing in flight. */
function gateOf(channel: ChannelState | undefined): ChannelGate {
  return {
    channel: channel ? { type: channel.type, enabled: channel.enabled, url: channel.url } : null,
    circuit: 'CLOSED',
    halfOpensAt: null,
    probeInFlight: false,
    throttledUntil: null,
    slow: false,
    backlog: false,
  };
}

function describeResult(r: ExchangeResult): string {
  return r.exchange.kind === 'answered' ? `HTTP ${r.exchange.statusCode}` : (r.error ?? r.exchange.kind);
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
