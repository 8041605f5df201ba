import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { claimEvents, Consumed, eventsOf, MessageTransport, Outbox } from '@waybill/messaging';
import { TRANSPORT } from '@waybill/platform';
import { ROUTING_DB, ROUTING_SCHEMA as SCHEMA } from './routing.database';
import { RoutingService } from './routing.service';

/** The consumer group of `waybill.redelivery-requests` in routing (also the dedupe record's consumer name). */
export const REDELIVERY_GROUP = 'waybill.routing.redelivery';

/**
 * Routing keeps every payload, so it is routing that answers `transaction.redelivery-requested`:
 * a new generation of `delivery.requested`, in one database transaction with the claim of the
 * request's event id (a request read twice redelivers once).
 */
@Injectable()
export class Redeliveries {
  private readonly outbox: Outbox;

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) transport: MessageTransport,
    private readonly routing: RoutingService,
  ) {
    this.outbox = transport.outbox(SCHEMA);
  }

  /** A batch read by {@link REDELIVERY_GROUP}; resolves once its deliveries are in the outbox and flushed. */
  async handle(items: readonly Consumed[]): Promise<void> {
    const requests = eventsOf(items, ['transaction.redelivery-requested.v1']);
    if (requests.length === 0) return;
    await this.db.transaction(async (em) => {
      const fresh = await claimEvents(em, REDELIVERY_GROUP, requests.map((e) => e.eventId));
      for (const e of requests) {
        if (!fresh.has(e.eventId)) continue;
        await this.outbox.append(em, await this.routing.redeliver(em, e.orgId, e.data.transactionId, e.eventId, new Date()));
      }
    });
    await this.outbox.flush();
  }
}
