import { Module } from '@nestjs/common';
import { ChannelReplica, serviceDatabase } from '@waybill/platform';
import { DISPATCHER_DB, DISPATCHER_MIGRATIONS } from './adapters/db/dispatcher.migrations';
import { DeliveryService, SCHEMA } from './application/delivery.service';

/** The dispatcher: delivers to partners, retries, and reports each attempt as events. */
@Module({
  providers: [serviceDatabase(DISPATCHER_DB, { schema: SCHEMA, migrations: DISPATCHER_MIGRATIONS }), ChannelReplica, DeliveryService],
})
export class DispatcherModule {}
