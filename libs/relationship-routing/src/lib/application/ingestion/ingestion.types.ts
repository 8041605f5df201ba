import type { ChannelState, TransactionHeader } from '@waybill/contracts';
import type { ProblemError } from '@waybill/platform';
import type { SendTransactionInput } from '../../domain/transaction.input';

/** What `POST /v1/transactions(/batch)` answers for a transaction it took (or replayed). */
export interface AcceptedTransaction {
  id: string;
  status: 'PENDING';
  relationshipId: string;
  channelId: string;
  createdAt: string;
}

/** One transaction to take: its body as received, where it sits in the request (for error paths), its key. */
export interface IngestItem {
  body: unknown;
  /** `body`, or `body.transactions[3]`. */
  path: string;
  idempotencyKey?: unknown;
  /**
   * What the Idempotency-Key's body check compares, as the text sent: the whole body of a single
   * POST, a batch item (its own `idempotencyKey` left out by the check).
   */
  sentText: string;
  /** The payload as the text sent, and how deep it nests (see `locateSpans`); absent when there is none. */
  payload?: { text: string; depth: number };
}

export type IngestResult =
  | { ok: true; transaction: AcceptedTransaction; replayed: boolean; idempotencyKey?: string }
  | { ok: false; error: ProblemError; idempotencyKey?: string };

/** An item that passed the body's schema: what the group will route, check and store. */
export interface Parsed {
  index: number;
  key?: string;
  input: SendTransactionInput;
}

/** One caller's items, as they ride a group commit. */
export interface Request {
  orgId: string;
  now: Date;
  items: Parsed[];
  /** The originals, for error paths and the Idempotency-Key's body check. */
  originals: IngestItem[];
  /** Set once routing's channel replica was caught up for this request's unknown channels. */
  caughtUp: boolean;
  /** The request body's size in bytes (bounds a group's size), or an estimate. */
  bytes: number;
}

/**
 * A request's results by item index, the items whose channel the replica did not know yet, and
 * the topics its group wrote (its caller flushes them before answering; null: nothing to wait for).
 */
export interface Outcome {
  results: Map<number, IngestResult>;
  unknownChannel: { parsed: Parsed; channelId: string }[];
  flush: string[] | null;
}

/** An item that passed every check and will be stored (or replayed, with a key already used). */
export interface Ready {
  request: Request;
  index: number;
  key?: string;
  fingerprint?: string;
  header: TransactionHeader;
  channel: ChannelState;
  /** The payload as stored and delivered: the JSON text sent, or the document. */
  text: string;
  bytes: number;
}

/** A stored item's answer. */
export function accepted(r: Ready): AcceptedTransaction {
  return { id: r.header.id, status: 'PENDING', relationshipId: r.header.relationshipId, channelId: r.channel.id, createdAt: r.header.createdAt };
}
