import type { ReadModel } from '../../application/projection/read-model.port';
import { READ_MODEL_TABLES, readModelDdl } from './read-model.ddl';
import { applyTransactionEvents } from './read-model.writer';

/** The read model in PostgreSQL: the writer's two statements a batch, and the tables' DDL. */
export const postgresReadModel: ReadModel = {
  apply: applyTransactionEvents,
  ddl: readModelDdl,
  tables: READ_MODEL_TABLES,
};
