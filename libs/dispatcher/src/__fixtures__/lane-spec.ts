import type { ChannelState, EventType } from '@waybill/contracts';
import type { OutgoingMessage } from '@waybill/messaging';
import { specification } from '@waybill/testing';
import { CircuitBreaker } from '../lib/domain/circuit-breaker';
import { ChannelLane } from '../lib/application/engine/lane/channel-lane';
import type { Effect, LaneEvent, World, Writes } from '../lib/application/engine/lane/lane-protocol';
import type { LaneOptions } from '../lib/application/engine/lane/lane-state';
import type { AttemptResult, ParkedRow } from '../lib/application/engine/ports';
import type { Delivery, Work } from '../lib/application/engine/work';
import { channelState } from './channel-state';

/**
 * Given/when/then for a lane's decisions, on the shared `specification` fold: `given` happenings
 * (events, or changes of the world), `when` one or more more, `then` a check of the effects the
 * `when` part produced and of the lane. No runtime: effects are values, and what the runtime would
 * report back is written as more events (`reported(...)`, `answered(...)`).
 */

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const ORG = 'org_1';

export const OPTIONS: LaneOptions = { holdMs: 250, maxHoldMs: 3_000, channelShare: 64, leaseMarginMs: 5_000, disabledRecheckMs: 1_000 };

/** A change of the world the lane is told of: time passes, the channel changes, the budget's room. */
export interface WorldChange {
  world: Partial<Omit<World, 'channel' | 'now'>> & { advanceMs?: number; channel?: Partial<ChannelState> | null };
}

export type Happening = LaneEvent | WorldChange | ((seen: Seen) => LaneEvent | LaneEvent[] | WorldChange);

export interface Seen {
  lane: ChannelLane;
  world: World;
  /** The effects of the `when` part (of the `given` part, until `when`). */
  effects: Effect[];
  /** Every effect, in order. */
  all: Effect[];
  /** Works launched so far, in order. */
  launched: Work[];
}

let ids = 0;

/** A delivery of a new transaction to the channel (`n` names it in tests). */
export function delivery(n: number, over: { channelId?: string; firstSeenAt?: number; format?: 'JSON' | 'XML' | 'X12' } = {}): Delivery {
  return {
    orgId: ORG,
    partition: 0,
    firstSeenAt: new Date(over.firstSeenAt ?? T0),
    request: {
      deliveryId: `dl_${n}`,
      transactionId: `tx_${n}`,
      channelId: over.channelId ?? 'ch_1',
      generation: 1,
      format: over.format ?? 'JSON',
      transaction: { id: `tx_${n}`, relationshipId: 'rel_1', senderId: 'ACME', receiverId: 'GLOBEX', transactionType: '850', businessNumber: null, stream: 'LIVE', createdAt: new Date(T0).toISOString() },
      payload: { n },
    },
  };
}

/** A lane of channel `ch_1` (as `channelState` makes it, with `channel` over it), owned, at T0. */
export function laneSpec(channel: Partial<ChannelState> = {}, world: Partial<World> = {}, options: Partial<LaneOptions> = {}) {
  const initial = (): Seen => {
    const state = { ...channelState(ORG), id: 'ch_1', url: 'https://partner.example/hook', ...channel };
    const lane = new ChannelLane('ch_1', ORG, 0, new CircuitBreaker(state.circuitBreaker), { ...OPTIONS, ...options }, () => `bat_${++ids}`, T0, true);
    const w: World = { now: T0, channel: state, room: { normal: 100, slow: 20 }, slowAfterMs: 250, typicalMs: 20, closing: false, ...world };
    return { lane, world: w, effects: [], all: [], launched: [] };
  };
  const evolve = (seen: Seen, h: Happening): Seen => {
    const resolved = typeof h === 'function' ? h(seen) : h;
    for (const x of Array.isArray(resolved) ? resolved : [resolved]) apply(seen, x);
    return seen;
  };
  const apply = (seen: Seen, h: LaneEvent | WorldChange) => {
    if ('world' in h) {
      const { advanceMs, channel: over, ...rest } = h.world;
      Object.assign(seen.world, rest);
      if (advanceMs) seen.world.now += advanceMs;
      if (over === null) seen.world.channel = undefined;
      else if (over) seen.world.channel = { ...(seen.world.channel as ChannelState), ...over };
      return;
    }
    const fx = seen.lane.decide(h, { ...seen.world, room: { ...seen.world.room } });
    seen.effects.push(...fx);
    seen.all.push(...fx);
    for (const e of fx) if (e.kind === 'launch') seen.launched.push(e.work);
  };
  const spec = specification<Seen, Happening>({ initialState: initial, evolve });
  return {
    given(...happenings: Happening[]) {
      const when = spec.given(...happenings);
      return {
        state: when.state,
        when(...more: Happening[]) {
          when.state.effects = [];
          return when.when(...more);
        },
      };
    },
  };
}

// ——— happenings ———

export const arrive = (...ns: number[]): LaneEvent[] => ns.map((n) => ({ kind: 'arrived', delivery: delivery(n) }));
export const arriveAll = (ds: Delivery[]): LaneEvent[] => ds.map((d) => ({ kind: 'arrived', delivery: d }));
export const advance = (ms: number): WorldChange => ({ world: { advanceMs: ms } });
export const channel = (over: Partial<ChannelState> | null): WorldChange => ({ world: { channel: over } });
export const room = (normal: number, slow = 20): WorldChange => ({ world: { room: { normal, slow } } });
export const timer = (name: 'wake' | 'batch' | 'halfOpen'): LaneEvent => ({ kind: 'timer', timer: name });

/** What an exchange came to: an HTTP status, or no answer. */
export function result(answer: number | 'timeout' | 'reset' | 'refused', over: Partial<AttemptResult> = {}): AttemptResult {
  const exchange =
    typeof answer === 'number'
      ? ({ kind: 'answered', statusCode: answer } as const)
      : answer === 'timeout'
        ? ({ kind: 'timeout' } as const)
        : answer === 'refused'
          ? ({ kind: 'refused' } as const)
          : ({ kind: 'connection-error', code: 'ECONNRESET' } as const);
  return { exchange, durationMs: 40, excerpt: null, error: typeof answer === 'number' ? null : answer, retryAfter: null, ...over };
}

/** The partner answers the `i`-th launched work (default: the oldest still in flight). */
export const answered = (answer: number | 'timeout' | 'reset' | 'refused', over: Partial<AttemptResult> = {}, which?: number) => (seen: Seen): LaneEvent => ({
  kind: 'answered',
  work: which === undefined ? oldestInFlight(seen) : seen.launched[which],
  result: result(answer, over),
  at: seen.world.now,
  random: 0.5,
});

/** The runtime reports the writes it was asked for as done (every write not reported yet, in order). */
export const reported = () => (seen: Seen): LaneEvent[] => {
  const then: LaneEvent[] = [];
  for (const e of seen.all) if (e.kind === 'write' && e.then && !done.has(e)) {
    done.add(e);
    then.push(e.then);
  }
  return then;
};
const done = new WeakSet<Effect>();

/** The runtime took these rows from the line (each array one work). */
export const claimedRows = (works: ParkedRow[][], line: { due: number; parked: number; nextDueAt: number | null } | null = null, readyAt: number | null = null) => (seen: Seen): LaneEvent => {
  const claim = [...seen.all].reverse().find((e) => e.kind === 'claim');
  if (!claim) throw new Error('no claim was asked for');
  return { kind: 'claimed', works, readyAt, line };
};
export const row = (n: number, attempt = 1, batchId: string | null = null, over: Parameters<typeof delivery>[1] = {}): ParkedRow => ({ delivery: delivery(n, over), batchId, attempt });

function oldestInFlight(seen: Seen): Work {
  const w = seen.launched.find((x) => seen.lane.inFlight.has(x) && x.state === 'running');
  if (!w) throw new Error('nothing in flight');
  return w;
}

// ——— reading effects ———

export const kinds = (fx: Effect[]) => fx.map((e) => e.kind);
export const ofKind = <K extends Effect['kind']>(fx: Effect[], kind: K) => fx.filter((e): e is Extract<Effect, { kind: K }> => e.kind === kind);
export const writesOf = (fx: Effect[]): Writes[] => ofKind(fx, 'write').map((e) => e.writes);
/** The events of every write, as `type` and the delivery (or channel) they are about. */
export function eventsOf(fx: Effect[]): { type: EventType; data: Record<string, unknown> }[] {
  const all: OutgoingMessage[] = [...writesOf(fx).flatMap((w) => w.events), ...ofKind(fx, 'announce').flatMap((e) => e.events), ...ofKind(fx, 'circuit').flatMap((e) => (e.alert ? [e.alert] : []))];
  return all.map((m) => {
    const v = m.value as { type: EventType; data: Record<string, unknown> };
    return { type: v.type, data: v.data };
  });
}
export const typesOf = (fx: Effect[]) => eventsOf(fx).map((e) => `${e.type}${e.data.transactionId ? ` ${e.data.transactionId}` : ''}`);
export const launchedIds = (fx: Effect[]) => ofKind(fx, 'launch').map((e) => e.work.ids.join('+'));
export const timersOf = (fx: Effect[]) => ofKind(fx, 'timer').map((e) => [e.timer, e.at === null ? null : e.at - T0]);
