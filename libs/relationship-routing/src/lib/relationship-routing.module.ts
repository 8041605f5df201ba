import { Module } from '@nestjs/common';
import { ChannelReplica, serviceDatabase } from '@waybill/platform';
import { ROUTING_DB, ROUTING_MIGRATIONS } from './adapters/db/routing.migrations';
import { RelationshipsService, SCHEMA } from './application/relationships.service';
import { RoutingService } from './application/routing.service';
import { IngestionService } from './application/ingestion.service';
import { IdempotencyCleanup } from './application/idempotency-cleanup';
import { RedeliveryConsumer } from './application/redelivery.consumer';
import { ChannelDeletions } from './application/channel-deletions';
import { RelationshipsController } from './adapters/http/relationships.controller';
import { SentRequestController, TransactionsController } from './adapters/http/transactions.controller';
import { SentRequests } from './application/sent-requests.service';

/** Relationship routing: relationships, and the way in for transactions. */
@Module({
  controllers: [RelationshipsController, TransactionsController, SentRequestController],
  providers: [
    serviceDatabase(ROUTING_DB, { schema: SCHEMA, migrations: ROUTING_MIGRATIONS }),
    ChannelReplica,
    RelationshipsService,
    RoutingService,
    IngestionService,
    IdempotencyCleanup,
    RedeliveryConsumer,
    SentRequests,
    ChannelDeletions,
  ],
  exports: [IdempotencyCleanup],
})
export class RelationshipRoutingModule {}
