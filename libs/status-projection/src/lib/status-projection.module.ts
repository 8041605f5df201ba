import { Module } from '@nestjs/common';
import { serviceDatabase } from '@waybill/platform';
import { STATUS_DB, STATUS_MIGRATIONS } from './adapters/db/status.migrations';
import { ProjectionService, SCHEMA } from './application/projection.service';
import { TransactionsQuery } from './application/transactions.query';
import { TransactionsReadController } from './adapters/http/transactions-read.controller';

/** The status projection: transaction status folded from delivery events, and its reads. */
@Module({
  controllers: [TransactionsReadController],
  providers: [serviceDatabase(STATUS_DB, { schema: SCHEMA, migrations: STATUS_MIGRATIONS }), ProjectionService, TransactionsQuery],
})
export class StatusProjectionModule {}
