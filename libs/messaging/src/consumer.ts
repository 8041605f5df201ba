import type { EventOf, EventType } from '@waybill/contracts';
import { Consumed, EventSubscriptionSpec, subscribeEvents } from './event-consumer';
import type { Log } from './logger';
import type { MessageTransport, Subscription } from './transport.port';

/**
 * A service's consumer group for as long as the service runs: `start` subscribes (with the error
 * policy of `subscribeEvents`) when the service starts, `stop` ends the subscription when it stops.
 * In between, `catchUp` waits for the group to read what is on its topics; asked before the start,
 * it answers false (nothing is read yet) rather than throwing.
 */
export class EventConsumer {
  private subscription: Subscription | null = null;

  async start(transport: MessageTransport, log: Log, spec: EventSubscriptionSpec): Promise<void> {
    this.subscription = await subscribeEvents(transport, log, spec);
  }

  get started(): boolean {
    return this.subscription !== null;
  }

  catchUp(timeoutMs: number): Promise<boolean> {
    return this.subscription ? this.subscription.catchUp(timeoutMs) : Promise.resolve(false);
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }
}

/** The events of `types` in a handled batch, in their order; tombstones and other events are left out. */
export function eventsOf<T extends EventType>(items: readonly Consumed[], types: readonly T[]): EventOf<T>[] {
  const wanted = new Set<EventType>(types);
  return items.flatMap((i) => (i.kind === 'event' && wanted.has(i.event.type) ? [i.event as EventOf<T>] : []));
}
