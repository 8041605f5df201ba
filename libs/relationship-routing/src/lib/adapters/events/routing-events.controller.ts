import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics } from '@waybill/contracts';
import type { Consumed, ConsumerOptions } from '@waybill/messaging';
import { CHANNEL_DELETIONS_GROUP, ChannelDeletions } from '../../application/channel-deletions';
import { REDELIVERY_GROUP, Redeliveries } from '../../application/redeliveries';

/** Routing's consumer groups: each handler gets a batch, which is acknowledged once it resolves. */
@Controller()
export class RoutingEventsController {
  constructor(
    private readonly redeliveries: Redeliveries,
    private readonly deletions: ChannelDeletions,
  ) {}

  /** `transaction.redelivery-requested`: a new generation of the transaction's delivery. */
  @EventPattern(REDELIVERY_GROUP, { topics: [Topics.redeliveryRequests], partitionsConcurrently: 'all' } satisfies ConsumerOptions)
  redeliveryRequested(@Payload() items: Consumed[]): Promise<void> {
    return this.redeliveries.handle(items);
  }

  /** A channel marked for deletion (or no longer), or deleted: routing's half of deleting it. */
  @EventPattern(CHANNEL_DELETIONS_GROUP, { topics: [Topics.channels], types: ['channel.upserted.v1'], partitionsConcurrently: 'all' } satisfies ConsumerOptions)
  channelChanged(@Payload() items: Consumed[]): Promise<void> {
    return this.deletions.handle(items);
  }
}
