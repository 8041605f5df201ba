import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { CommandRejection, transactionDecider } from '@waybill/delivery';
import { commitWithEvents, MessageTransport, Outbox, OutgoingMessage } from '@waybill/messaging';
import { ProblemError, Problems, TRANSPORT } from '@waybill/platform';
import { ProjectionService } from '../projection/projection.service';
import { TransactionsQuery } from '../queries/transactions.query';
import { RelationshipDirectory } from '../relationship-directory';
import { STATUS_DB, STATUS_SCHEMA } from '../status.database';
import { commandMessages } from './command-events';

/** How long an accept waits for the projection to show it before answering 503 (ms). */
export const ACCEPT_VISIBLE_TIMEOUT_MS = 5_000;
/** How long a redelivery waits for the projection to show it PENDING; it answers 202 either way (ms). */
const REDELIVER_VISIBLE_TIMEOUT_MS = 3_000;

/**
 * What the API may ask of a transaction. The status service never writes its read model here:
 * a command publishes an event through the status schema's outbox, and the projection applies it
 * like any other; the call answers once the read model shows it.
 */
@Injectable()
export class TransactionCommands {
  private readonly outbox: Outbox;

  constructor(
    @Inject(STATUS_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    private readonly projection: ProjectionService,
    private readonly query: TransactionsQuery,
    private readonly relationships: RelationshipDirectory,
  ) {
    this.outbox = transport.outbox(STATUS_SCHEMA);
  }

  /**
   * DISPATCHED → ACCEPTED. Answers the transaction once a read shows it ACCEPTED; 409 from any other
   * status; 503 with Retry-After when the projection has not shown it within 5 s (the accept is
   * recorded, and repeating it is safe: it publishes the same event, and an accepted transaction
   * accepts again).
   */
  async accept(orgId: string, id: string) {
    const view = await this.query.view(orgId, id);
    const decision = transactionDecider.decide({ type: 'AcceptTransaction' }, view);
    if (!decision.ok) throw conflict(decision.rejection);
    if (decision.events.length > 0) {
      const deadline = Date.now() + ACCEPT_VISIBLE_TIMEOUT_MS;
      await this.publish(commandMessages(view, decision.events, new Date()));
      const caughtUp = await this.projection.catchUp(Math.max(0, deadline - Date.now()));
      const now = await this.query.view(orgId, id);
      if (now.status !== 'ACCEPTED') {
        if (!caughtUp || (now.status === 'DISPATCHED' && now.deliveryId === view.deliveryId)) {
          throw Problems.unavailable('The accept is recorded but not visible yet; repeat the call to see it.', 1);
        }
        // Redelivered meanwhile: the accept spoke of a delivery that is no longer the current one.
        throw conflict({ code: 'TRANSACTION_NOT_DISPATCHED', detail: `Transaction ${id} is ${now.status}; it was not accepted.` });
      }
    }
    return this.query.get(orgId, id);
  }

  /**
   * A new delivery of a transaction not in flight (409 while one is); 202 with the transaction.
   * 422 when its relationship no longer exists or has no channel: routing could not route it, and
   * the status is left as it is.
   */
  async redeliver(orgId: string, id: string) {
    const view = await this.query.view(orgId, id);
    const now = new Date();
    const decision = transactionDecider.decide({ type: 'RequestRedelivery', metadata: { now } }, view);
    if (!decision.ok) throw conflict(decision.rejection);
    if (decision.events.length > 0) {
      const unroutable = view.relationshipId ? await this.relationships.unroutable(orgId, view.relationshipId) : null;
      if (unroutable) throw Problems.unprocessable('RELATIONSHIP_HAS_NO_CHANNEL', unroutable);
      await this.publish(commandMessages(view, decision.events, now));
      await this.projection.catchUp(REDELIVER_VISIBLE_TIMEOUT_MS);
    }
    return this.query.get(orgId, id);
  }

  private async publish(messages: OutgoingMessage[]): Promise<void> {
    await commitWithEvents(this.db, this.outbox, async (_em, emit) => emit(...messages));
  }
}

export function conflict(rejection: CommandRejection): ProblemError {
  return Problems.conflict(rejection.code, rejection.detail);
}
