import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics } from '@waybill/contracts';
import type { Consumed, ConsumerOptions } from '@waybill/messaging';
import { ALERT_EVENT_TYPES, ALERTS_GROUP, AlertsService } from '../../application/alerts/alerts.service';
import { PROJECTION_BATCH, PROJECTION_GROUP, PROJECTION_LINGER_MS, ProjectionService } from '../../application/projection/projection.service';
import { RELATIONSHIPS_GROUP, RelationshipDirectory } from '../../application/relationship-directory';

/** The status service's consumer groups: each handler call gets a batch, acknowledged once it resolves. */
@Controller()
export class StatusEventsController {
  constructor(
    private readonly projection: ProjectionService,
    private readonly alerts: AlertsService,
    private readonly relationships: RelationshipDirectory,
  ) {}

  /** Transaction events (and redelivery requests) folded into the read model. */
  @EventPattern(PROJECTION_GROUP, {
    topics: [Topics.transactionEvents, Topics.redeliveryRequests],
    partitionsConcurrently: 'all',
    // Each batch is one database transaction (a few statements, whatever its size): larger batches, fewer round trips
    // per event (the embedded log's one reader fell 20 s behind 1,600 tx/s with batches of 500).
    maxBatch: PROJECTION_BATCH,
    // A transaction costs the projection the same whatever the batch's size: when events come a
    // few at a time, waiting a little for more costs that much latency on ACCEPTED, and far less CPU.
    lingerMs: PROJECTION_LINGER_MS,
  } satisfies ConsumerOptions)
  transactionEvents(@Payload() items: Consumed[]): Promise<void> {
    return this.projection.project(items);
  }

  /** Alerts, stored for `GET /v1/alerts`. */
  @EventPattern(ALERTS_GROUP, { topics: [Topics.alerts], types: ALERT_EVENT_TYPES } satisfies ConsumerOptions)
  alertRaised(@Payload() items: Consumed[]): Promise<void> {
    return this.alerts.store(items);
  }

  /** Relationships (which channel each has), to refuse a redelivery routing could not route. */
  @EventPattern(RELATIONSHIPS_GROUP, { topics: [Topics.relationships], types: ['relationship.upserted.v1'], partitionsConcurrently: 'all' } satisfies ConsumerOptions)
  relationshipsChanged(@Payload() items: Consumed[]): Promise<void> {
    return this.relationships.apply(items);
  }
}
