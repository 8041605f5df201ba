import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { Topics } from '@waybill/contracts';
import { claimEvents, EventConsumer, eventsOf, MessageTransport } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '@waybill/platform';
import { ROUTING_DB } from '../adapters/db/routing.migrations';
import { RoutingService } from './routing.service';
import { SCHEMA } from './relationships.service';

const GROUP = 'waybill.routing.redelivery';

/**
 * Routing keeps every payload, so it is routing that answers `transaction.redelivery-requested`:
 * a new generation of `delivery.requested`, in one database transaction with the claim of the
 * request's event id (a request read twice redelivers once).
 */
@Injectable()
export class RedeliveryConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer = new EventConsumer();

  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly routing: RoutingService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const outbox = this.transport.outbox(SCHEMA);
    await this.consumer.start(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.redeliveryRequests],
      partitionsConcurrently: this.transport.partitions,
      handle: async (items) => {
        const requests = eventsOf(items, ['transaction.redelivery-requested.v1']);
        if (requests.length === 0) return;
        await this.db.transaction(async (em) => {
          const fresh = await claimEvents(em, GROUP, requests.map((e) => e.eventId));
          for (const e of requests) {
            if (!fresh.has(e.eventId)) continue;
            await outbox.append(em, await this.routing.redeliver(em, e.orgId, e.data.transactionId, e.eventId, new Date()));
          }
        });
        await outbox.flush();
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }
}
