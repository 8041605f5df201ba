import { Module } from '@nestjs/common';
import { ChannelReplica, serviceDatabase } from '@waybill/platform';
import { ROUTING_MIGRATIONS } from './adapters/db/routing.migrations';
import { ROUTING_DB, ROUTING_SCHEMA } from './application/routing.database';
import { RelationshipsService } from './application/relationships.service';
import { RoutingService } from './application/routing.service';
import { IngestionService } from './application/ingestion/ingestion.service';
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
    serviceDatabase(ROUTING_DB, { schema: ROUTING_SCHEMA, migrations: ROUTING_MIGRATIONS }),
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
