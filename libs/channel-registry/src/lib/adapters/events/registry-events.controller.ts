import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics } from '@waybill/contracts';
import type { Consumed, ConsumerOptions } from '@waybill/messaging';
import { RELATIONSHIP_USAGE_GROUP, RelationshipUsage } from '../../application/relationship-usage';

/** The registry's consumer group: each handler call gets a batch, acknowledged once it resolves. */
@Controller()
export class RegistryEventsController {
  constructor(private readonly usage: RelationshipUsage) {}

  /** Relationships (which channel each uses) and routing's usage reports for deletes. */
  @EventPattern(RELATIONSHIP_USAGE_GROUP, {
    topics: [Topics.relationships],
    types: ['relationship.upserted.v1', 'channel.usage-reported.v1'],
    partitionsConcurrently: 'all',
  } satisfies ConsumerOptions)
  relationshipsChanged(@Payload() items: Consumed[]): Promise<void> {
    return this.usage.apply(items);
  }
}
