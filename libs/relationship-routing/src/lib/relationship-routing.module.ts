import { Module } from '@nestjs/common';
import { serviceDatabase } from '@waybill/platform';
import { ROUTING_DB, ROUTING_MIGRATIONS } from './adapters/db/routing.migrations';
import { ChannelReplica } from '@waybill/platform';
import { RoutingService, SCHEMA } from './application/routing.service';
import { RedeliveryConsumer } from './application/redelivery.consumer';
import { RelationshipsController } from './adapters/http/relationships.controller';
import { TransactionsController } from './adapters/http/transactions.controller';

/** Relationship routing: relationships, and the way in for transactions. */
@Module({
  controllers: [RelationshipsController, TransactionsController],
  providers: [
    serviceDatabase(ROUTING_DB, { schema: SCHEMA, migrations: ROUTING_MIGRATIONS }),
    ChannelReplica,
    RoutingService,
    RedeliveryConsumer,
  ],
})
export class RelationshipRoutingModule {}
