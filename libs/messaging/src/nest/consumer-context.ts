import { BaseRpcContext } from '@nestjs/microservices';

/**
 * The `@Ctx()` of an `@EventPattern` handler: which consumer group the batch is read for, and a
 * signal that aborts when the consumers stop. One per group, not per batch (nothing in it changes
 * from one batch to the next; each item of the payload carries its own message).
 */
export class ConsumerContext extends BaseRpcContext<[group: string, stopping: AbortSignal]> {
  /** The consumer group (the handler's pattern). */
  getGroup(): string {
    return this.args[0];
  }

  /**
   * Aborts when the consumers stop (the service is shutting down). A handler that waits (retries,
   * backoff) stops waiting. Resolving acknowledges the batch; a handler that leaves work undone
   * throws instead, and the batch is handed out again later (to this instance or another).
   */
  getSignal(): AbortSignal {
    return this.args[1];
  }
}
