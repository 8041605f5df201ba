import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Topics } from '@waybill/contracts';
import { Consumed, ConsumerGroups, MessageTransport } from '@waybill/messaging';
import { TRANSPORT } from '@waybill/platform';
import { Dispatcher } from './engine/dispatcher';
import { PartnerConnections } from './engine/ports';
import { PullQueue } from './pull/pull-queue';

export const SCHEMA = 'dispatcher';
/** The dispatcher's consumer group of `waybill.deliveries`. */
export const DELIVERIES_GROUP = 'waybill.dispatcher';
/** Most deliveries one handler call takes from a Kafka partition (see the group's `maxBatch`). */
export const KAFKA_BATCH = 250;

/**
 * Runs the dispatcher in its process: starts it (and the pull queue) with the service, hands it
 * each batch of `waybill.deliveries` its consumer group reads (keyed by channel, so each channel
 * lives in the one instance that owns its partition), tells it which partitions it owns, and
 * stops it once the consumer groups have stopped (the app stops them before the shutdown hooks).
 */
@Injectable()
export class DeliveryService implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(TRANSPORT) private readonly transport: MessageTransport,
    private readonly dispatcher: Dispatcher,
    private readonly pull: PullQueue,
    private readonly client: PartnerConnections,
    groups: ConsumerGroups,
  ) {
    groups.onAssignment(DELIVERIES_GROUP, (assignment) => this.dispatcher.assign(assignment[Topics.deliveries] ?? []));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.transport.outbox(SCHEMA); // starts its relay (Kafka mode)
    await this.dispatcher.start();
    await this.pull.start();
  }

  /**
   * A batch read by {@link DELIVERIES_GROUP}: resolves once each delivery is finished or parked
   * durably (the commit point; see `Dispatcher.accept`).
   */
  accept(items: readonly Consumed[]): Promise<void> {
    const now = new Date();
    return this.dispatcher.accept(
      items.flatMap((item) =>
        item.kind === 'event' && (item.event.type === 'delivery.requested.v1' || item.event.type === 'delivery.requested.v2')
          ? [{ orgId: item.event.orgId, request: item.event.data, partition: item.message.partition, firstSeenAt: now }]
          : [],
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher.stop();
    await this.pull.stop();
    await this.client.close();
  }
}
