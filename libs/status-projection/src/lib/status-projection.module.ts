import { Module } from '@nestjs/common';
import { serviceDatabase } from '@waybill/platform';
import { STATUS_DB, STATUS_MIGRATIONS } from './adapters/db/status.migrations';
import { STATUS_SCHEMA } from './adapters/db/read-model.ddl';
import { TransactionsController } from './adapters/http/transactions.controller';
import { AlertsController } from './adapters/http/alerts.controller';
import { ProjectionAdminController } from './adapters/http/projection-admin.controller';
import { StatsController } from './adapters/http/stats.controller';
import { StatusEventsController } from './adapters/events/status-events.controller';
import { StatsQuery } from './application/stats.query';
import { ProjectionService } from './application/projection.service';
import { TransactionsQuery } from './application/transactions.query';
import { TransactionCommands } from './application/transaction-commands.service';
import { RedeliverySweeps } from './application/redelivery-sweep.service';
import { AlertsService } from './application/alerts.service';
import { ProjectionRebuild } from './application/projection-rebuild.service';
import { StatusMetrics } from './application/status.metrics';
import { RelationshipDirectory } from './application/relationship-directory';

/**
 * The status service: transaction status folded from delivery events, its reads, the commands on
 * it (accept, redeliver, the sweep), alerts, dashboard figures, the read model's rebuild, and their metrics.
 */
@Module({
  controllers: [TransactionsController, AlertsController, StatsController, ProjectionAdminController, StatusEventsController],
  providers: [
    serviceDatabase(STATUS_DB, { schema: STATUS_SCHEMA, migrations: STATUS_MIGRATIONS }),
    StatusMetrics,
    ProjectionService,
    AlertsService,
    TransactionsQuery,
    StatsQuery,
    RelationshipDirectory,
    TransactionCommands,
    RedeliverySweeps,
    ProjectionRebuild,
  ],
})
export class StatusProjectionModule {}
