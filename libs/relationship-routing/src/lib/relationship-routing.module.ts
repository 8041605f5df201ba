import { Module } from '@nestjs/common';
import { ChannelReplica, serviceDatabase } from '@waybill/platform';
import { ROUTING_DB, ROUTING_MIGRATIONS } from './adapters/db/routing.migrations';
import { RelationshipsService, SCHEMA } from './application/relationships.service';
import { RoutingService } from './application/routing.service';
import { IngestionService } from './application/ingestion.service';
import { IdempotencyCleanup } from './application/idempotency-cleanup';
import { Redeliveries } from './application/redeliveries';
import { ChannelDeletions } from './application/channel-deletions';
import { RelationshipsController } from './adapters/http/relationships.controller';
import { SentRequestController, TransactionsController } from './adapters/http/transactions.controller';
import { SentRequests } from './application/sent-requests.service';
import { RoutingEventsController } from './adapters/events/routing-events.controller';

/** Relationship routing: relationships, and the way in for transactions. */
@Module({
  controllers: [RelationshipsController, TransactionsController, SentRequestController, RoutingEventsController],
  providers: [
    serviceDatabase(ROUTING_DB, { schema: SCHEMA, migrations: ROUTING_MIGRATIONS }),
    ChannelReplica,
    RelationshipsService,
    RoutingService,
    IngestionService,
    IdempotencyCleanup,
    Redeliveries,
    SentRequests,
    ChannelDeletions,
  ],
  exports: [IdempotencyCleanup],
})
export class RelationshipRoutingModule {}
