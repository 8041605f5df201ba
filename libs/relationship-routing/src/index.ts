export { RelationshipRoutingModule } from './lib/relationship-routing.module';
export { IdempotencyCleanup, IDEMPOTENCY_RETENTION_MS } from './lib/application/idempotency-cleanup';
/** The shapes of routing's answers (what `/openapi.json` documents), for clients and tests. */
export * as RoutingAnswers from './lib/adapters/http/routing.schemas';
/** Routing's request schemas (what `/openapi.json` documents as request bodies). */
export { CreateRelationshipInput, UpdateRelationshipInput, SendBatchInput, sendTransactionSchema } from './lib/domain/transaction.input';
