import type { EventOf, EventType } from '@waybill/contracts';
import type { Consumed } from './event-consumer';

/** The events of `types` in a handled batch, in their order; tombstones and other events are left out. */
export function eventsOf<T extends EventType>(items: readonly Consumed[], types: readonly T[]): EventOf<T>[] {
  const wanted = new Set<EventType>(types);
  return items.flatMap((i) => (i.kind === 'event' && wanted.has(i.event.type) ? [i.event as EventOf<T>] : []));
}
