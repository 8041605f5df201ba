import { Module } from '@nestjs/common';
import { serviceDatabase } from '@waybill/platform';
import { STATUS_DB, STATUS_SCHEMA } from './application/status.database';
import { READ_MODEL } from './application/projection/read-model.port';
import { STATUS_MIGRATIONS } from './adapters/db/status.migrations';
import { postgresReadModel } from './adapters/db/postgres-read-model';
import { TransactionsController } from './adapters/http/transactions.controller';
import { AlertsController } from './adapters/http/alerts.controller';
import { ProjectionAdminController } from './adapters/http/projection-admin.controller';
import { StatsController } from './adapters/http/stats.controller';
import { StatusEventsController } from './adapters/events/status-events.controller';
import { StatsQuery } from './application/queries/stats.query';
import { ProjectionService } from './application/projection/projection.service';
import { TransactionsQuery } from './application/queries/transactions.query';
import { TransactionCommands } from './application/commands/transaction-commands.service';
import { RedeliverySweeps } from './application/sweeps/redelivery-sweep.service';
import { AlertsService } from './application/alerts/alerts.service';
import { AlertsQuery } from './application/alerts/alerts.query';
import { ProjectionRebuild } from './application/rebuild/projection-rebuild.service';
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
    { provide: READ_MODEL, useValue: postgresReadModel },
    StatusMetrics,
    ProjectionService,
    AlertsService,
    AlertsQuery,
    TransactionsQuery,
    StatsQuery,
    RelationshipDirectory,
    TransactionCommands,
    RedeliverySweeps,
    ProjectionRebuild,
  ],
})
export class StatusProjectionModule {}
