import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Topics } from '@waybill/contracts';
import { Consumed, ConsumerContext, ConsumerOptions } from '@waybill/messaging';
import { ALERT_DELIVERY_GROUP, ALERT_TYPES, AlertDelivery } from '../../application/alert-delivery';
import { DELIVERIES_GROUP, DeliveryService, KAFKA_BATCH } from '../../application/delivery.service';

/** The dispatcher's consumer groups: each handler call gets a batch, acknowledged once it resolves. */
@Controller()
export class DispatcherEventsController {
  constructor(
    private readonly deliveries: DeliveryService,
    private readonly alerts: AlertDelivery,
  ) {}

  /** Deliveries to make: the batch is acknowledged once each is finished or parked durably. */
  @EventPattern(DELIVERIES_GROUP, {
    topics: [Topics.deliveries],
    types: ['delivery.requested.v1', 'delivery.requested.v2'],
    // Every partition's batch at once: a batch waits for its own deliveries only, never for
    // another partition's (`npm run bench`: p50 ingest→partner 145 → 95 ms against 4 at once).
    partitionsConcurrently: 'all',
    // A handler call holds its deliveries until each is finished or parked. From Kafka a partition's
    // fetch brings ~1,000 of them: ~100 queued per channel behind its concurrency, enough rounds
    // under load to pass the hold's bound, and what passes it is parked — writes that slow the
    // instance further (a 50,000 burst fell to 609 delivered/s; 1,559/s with calls of 250, as measured in docs/architecture.md). Smaller calls keep
    // the queues a few rounds deep. The embedded log's one reader keeps its larger batches.
    maxBatch: { kafka: KAFKA_BATCH },
  } satisfies ConsumerOptions)
  deliveryRequested(@Payload() items: Consumed[]): Promise<void> {
    return this.deliveries.accept(items);
  }

  /** Alerts, delivered to each organisation's alert channel; tries left at shutdown are given up. */
  @EventPattern(ALERT_DELIVERY_GROUP, { topics: [Topics.alerts], types: ALERT_TYPES, partitionsConcurrently: 'all' } satisfies ConsumerOptions)
  alertRaised(@Payload() items: Consumed[], @Ctx() ctx: ConsumerContext): Promise<void> {
    return this.alerts.handle(items, ctx.getSignal());
  }
}
