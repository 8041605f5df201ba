import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { Topics } from '@waybill/contracts';
import { EventConsumer, MessageTransport } from '@waybill/messaging';
import { LOGGER, TRANSPORT } from '@waybill/platform';
import { PartnerClient } from '../adapters/partner/partner-client';
import { AlertDelivery } from './alert-delivery';
import { Dispatcher } from './engine/dispatcher';
import { PullQueue } from './pull-queue';

export const SCHEMA = 'dispatcher';
const GROUP = 'waybill.dispatcher';
/** Most deliveries one handler call takes from a Kafka partition (see `maxBatch` below). */
const KAFKA_BATCH = 250;

/**
 * Runs the dispatcher in its process: consumes `waybill.deliveries` (keyed by channel, so each
 * channel lives in the one instance that owns its partition) into the {@link Dispatcher}, tells it
 * which partitions it owns, and starts and stops everything in order.
 */
@Injectable()
export class DeliveryService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumer = new EventConsumer();

  constructor(
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly dispatcher: Dispatcher,
    private readonly pull: PullQueue,
    private readonly alerts: AlertDelivery,
    private readonly client: PartnerClient,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.transport.outbox(SCHEMA); // starts its relay (Kafka mode)
    await this.dispatcher.start();
    await this.pull.start();
    await this.consumer.start(this.transport, this.log, {
      group: GROUP,
      topics: [Topics.deliveries],
      types: ['delivery.requested.v1', 'delivery.requested.v2'],
      // Every partition's batch at once: a batch waits for its own deliveries only, never for
      // another partition's (`npm run bench`: p50 ingest→partner 145 → 95 ms against 4 at once).
      partitionsConcurrently: this.transport.partitions,
      // A handler call holds its deliveries until each is finished or parked. From Kafka a partition's
      // fetch brings ~1,000 of them: ~100 queued per channel behind its concurrency, enough rounds
      // under load to pass the hold's bound, and what passes it is parked — writes that slow the
      // instance further (a 50,000 burst fell from ~1,150 to ~600 delivered/s). Smaller calls keep
      // the queues a few rounds deep. The embedded log's one reader keeps its larger batches.
      maxBatch: this.transport.kind === 'kafka' ? KAFKA_BATCH : undefined,
      onAssignment: (assignment) => this.dispatcher.assign(assignment[Topics.deliveries] ?? []),
      handle: async (items) => {
        const now = new Date();
        await this.dispatcher.accept(
          items.flatMap((item) =>
            item.kind === 'event' && (item.event.type === 'delivery.requested.v1' || item.event.type === 'delivery.requested.v2')
              ? [{ orgId: item.event.orgId, request: item.event.data, partition: item.message.partition, firstSeenAt: now }]
              : [],
          ),
        );
      },
    });
    await this.alerts.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.alerts.stop();
    await this.consumer.stop();
    await this.dispatcher.stop();
    await this.pull.stop();
    await this.client.close();
  }
}
