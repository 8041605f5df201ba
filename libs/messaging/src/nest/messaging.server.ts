import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import { subscribeEvents, type Consumed } from '../event-consumer';
import type { Log } from '../logger';
import type { MessageTransport, Subscription } from '../transport.port';
import { ConsumerContext } from './consumer-context';
import { Assignment, ConsumerGroups } from './consumer-groups';
import { ConsumerOptions, subscriptionOf } from './consumer-options';

/** The transport id of {@link MessagingServer}: `@EventPattern(group, MESSAGING, options)` binds a handler to it alone. */
export const MESSAGING = Symbol('waybill.messaging');

/**
 * The Nest transport strategy over Waybill's messaging port (both adapters: Kafka and the embedded
 * log). Each `@EventPattern(group, options)` handler of the app becomes one subscription of the
 * port, with the error policy every consumer shares (`subscribeEvents`: validation at the edge,
 * dead letters, a failing batch retried and never acknowledged meanwhile):
 *
 * - the handler gets a whole batch per call (`@Payload() items: Consumed[]`), as the port reads it:
 *   from Kafka one partition's messages, from the embedded log a topic's rows in commit order;
 * - the batch is acknowledged (offset committed, checkpoint written) only once the handler resolves;
 *   when it throws, nothing is acknowledged and the batch is handed to it again;
 * - the cost per batch is the handler's call through Nest (its pipes and filters): nothing per
 *   message, and no Observable unless the handler fails.
 *
 * It is also the process's {@link ConsumerGroups}: services catch a group up (read your writes)
 * and learn its partitions through it. `close()` stops every group, waiting for the batches in
 * hand; the transport itself is closed by whoever opened it, afterwards.
 */
export class MessagingServer extends Server implements CustomTransportStrategy, ConsumerGroups {
  override readonly transportId = MESSAGING;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly assignmentListeners = new Map<string, Array<(assignment: Assignment) => void>>();
  private readonly stopping = new AbortController();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly transport: MessageTransport,
    private readonly log: Log,
  ) {
    super();
  }

  listen(callback: (err?: unknown) => void): void {
    this.start().then(
      () => callback(),
      (err: unknown) => callback(err),
    );
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.stopping.abort();
      const running = [...this.subscriptions.values()];
      this.subscriptions.clear();
      await Promise.all(running.map((s) => s.stop()));
    })());
  }

  catchUp(group: string, timeoutMs: number): Promise<boolean> {
    const subscription = this.subscriptions.get(group);
    return subscription ? subscription.catchUp(timeoutMs) : Promise.resolve(false);
  }

  isRunning(group: string): boolean {
    return this.subscriptions.has(group);
  }

  onAssignment(group: string, listener: (assignment: Assignment) => void): void {
    const listeners = this.assignmentListeners.get(group);
    if (listeners) listeners.push(listener);
    else this.assignmentListeners.set(group, [listener]);
  }

  on(): never {
    throw new Error('MessagingServer has no events of its own to listen to');
  }

  unwrap<T>(): T {
    return this.transport as T;
  }

  /** Checks every handler first (a mistake fails the start before any group joins), then subscribes them all. */
  private async start(): Promise<void> {
    if (this.stopping.signal.aborted) throw new Error('MessagingServer: closed; create another');
    const groups = [...this.getHandlers()].map(([group, handler]) => {
      if (!handler.isEventHandler) {
        throw new Error(`@MessagePattern('${group}'): a log has no replies; declare consumers with @EventPattern(group, { topics })`);
      }
      if (handler.next) {
        throw new Error(`two @EventPattern handlers read the consumer group '${group}': a group has one handler (give the other its own group)`);
      }
      return { spec: subscriptionOf(group, handler.extras as ConsumerOptions, this.transport), handler };
    });
    const started = await Promise.allSettled(groups.map(({ spec, handler }) => this.subscribe(spec, handler)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    this.log.info({ groups: groups.map((g) => g.spec.group) }, 'consumers started');
  }

  private async subscribe(spec: ReturnType<typeof subscriptionOf>, handler: MessageHandler): Promise<void> {
    const context = new ConsumerContext([spec.group, this.stopping.signal]);
    const listeners = this.assignmentListeners.get(spec.group);
    const subscription = await subscribeEvents(this.transport, this.log, {
      ...spec,
      onAssignment: listeners ? (assignment) => listeners.forEach((l) => l(assignment)) : undefined,
      handle: async (items: Consumed[]) => {
        const result = await handler(items, context);
        // Nest hands a failure back as an Observable that errors (its exception filters' answer):
        // rethrown here, so the batch is not acknowledged.
        if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
      },
    });
    if (this.stopping.signal.aborted) {
      await subscription.stop(); // closed while it was joining
      return;
    }
    this.subscriptions.set(spec.group, subscription);
  }
}
