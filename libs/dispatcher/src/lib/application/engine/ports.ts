import type { AttemptOutcome, ChannelState } from '@waybill/contracts';
import type { CircuitState, Exchange } from '@waybill/delivery';
import type { OutgoingMessage } from '@waybill/messaging';
import type { PartnerRequest, RequestSecrets } from '../../domain/partner-request';
import type { Delivery, Retry } from './work';

/**
 * What the engine needs of its surroundings, as interfaces: `adapters/` implements them (SQL,
 * undici), and the engine imports nothing of `adapters/`.
 */

/** What one exchange with a partner came to (never an exception: an answer, or why there was none). */
export interface AttemptResult {
  exchange: Exchange;
  durationMs: number;
  /** The first KiB of the answer. */
  excerpt: string | null;
  error: string | null;
  retryAfter: string | null;
}

/** Sends partner requests (with a channel's secrets in clear, which only the builder sees). */
export interface PartnerPort {
  send(channel: ChannelState, build: (secrets: RequestSecrets) => PartnerRequest, abort?: AbortSignal): Promise<AttemptResult>;
  /** Drops what is cached of a channel (its secrets, its token). */
  forget(channelId: string): void;
}

/** A delivery going into (or back into) its channel's parked line. */
export interface ParkEntry {
  delivery: Delivery;
  batchId: string | null;
  /** The number of its next attempt. */
  attempt: number;
  dueAt: Date;
  /** Set for a delivery in flight right now (handed over mid-attempt); null for one that waits. */
  leasedUntil: Date | null;
  expiresAt: Date;
}

/** A parked row as claims and sweeps hand it back. */
export interface ParkedRow {
  delivery: Delivery;
  batchId: string | null;
  attempt: number;
}

/** What an owner knows of a channel's line. */
export interface LineStats {
  /** Rows claimable now (due, not in flight). */
  due: number;
  /** Rows not in flight. */
  parked: number;
  /** When the next row becomes claimable (a due time or a lease running out) (ms since the epoch). */
  nextDueAt: number | null;
}

export interface ChannelLine extends LineStats {
  channelId: string;
  orgId: string;
  partition: number;
}

/** The parked line (`parked_deliveries`) and the leases of this instance. */
export interface ParkedLineStore {
  /** Says this instance is alive: its leases hold while it beats. */
  beat(): Promise<void>;
  /** Gives back every lease (the embedded mode's single instance, whose earlier run is gone). */
  releaseAll(): Promise<void>;
  /** Gives leases back: claimable again at once. */
  release(deliveryIds: string[]): Promise<void>;
  park(entries: ParkEntry[]): Promise<void>;
  /** Ends an attempt of parked rows: deletes them (final), or puts them back for `retry`. */
  settle(deliveryIds: string[], retry: Retry | null): Promise<void>;
  claim(channelId: string, limit: number, leasedUntil: Date): Promise<ParkedRow[]>;
  claimBatches(channelId: string, limit: number, leasedUntil: Date): Promise<ParkedRow[][]>;
  claimLoose(channelId: string, batch: { maxItems: number; maxWaitMs: number }, batchId: string, leasedUntil: Date): Promise<{ rows: ParkedRow[]; readyAt: number | null }>;
  lineStats(channelId: string): Promise<LineStats>;
  lines(partitions: number[]): Promise<ChannelLine[]>;
  /** Removes up to `limit` waiting rows whose policy's time ran out, with the events `eventsOf` makes of them. */
  expire(partitions: number[], limit: number, eventsOf: (rows: ParkedRow[]) => OutgoingMessage[]): Promise<ParkedRow[]>;
  /** Which of `deliveryIds` are parked already. */
  existing(deliveryIds: string[]): Promise<Set<string>>;
}

/** A delivery finished, and the events that record its outcome. */
export interface FinishedEntry {
  deliveryId: string;
  events: OutgoingMessage[];
}

/** Notes of finished deliveries (`finished_deliveries`): what a crash must not send again. */
export interface FinishedStore {
  noteFinished(entries: FinishedEntry[]): Promise<void>;
  finishedOf(deliveryIds: string[]): Promise<Map<string, OutgoingMessage[]>>;
  forgetFinished(ageMs: number): Promise<void>;
}

/** One attempt as a channel's health lists it. */
export interface OutcomeRecord {
  at: string;
  outcome: AttemptOutcome;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

/** A channel's health as `GET /v1/channels/{id}/health` shows it. */
export interface ChannelHealth {
  channelId: string;
  circuit: CircuitState;
  inFlight: number;
  waiting: number;
  /** A partner that answered 429 is left alone until then. */
  throttledUntil: string | null;
  /** When an OPEN circuit lets its next probe through. */
  nextProbeAt: string | null;
  /** Most recent first. */
  lastOutcomes: OutcomeRecord[];
  updatedAt: string;
}

/** Why deliveries went to a parked line (a database write) rather than straight through. */
export type ParkReason = 'retry' | 'line' | 'wait' | 'handover';

/** What the engine counts (Prometheus, through `DispatcherMetrics`). */
export interface EngineMetrics {
  attempt(outcome: AttemptOutcome, durationMs: number): void;
  parked(reason: ParkReason, count: number): void;
  circuit(to: CircuitState): void;
}

/** Where the owner of a channel stores its health, for any instance to answer with. */
export interface HealthStore {
  save(rows: (ChannelHealth & { orgId: string })[]): Promise<void>;
}

/** The stored health, as the channel endpoints read it (of channels another instance owns). */
export interface HealthReader {
  load(channelId: string): Promise<ChannelHealth | null>;
  withCircuit(orgId: string, circuits: readonly CircuitState[]): Promise<ChannelHealth[]>;
}

/** The partner client's connections, closed last when the service stops (a DI token: the module gives it the client). */
export abstract class PartnerConnections {
  abstract close(): Promise<void>;
}
