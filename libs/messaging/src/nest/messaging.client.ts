import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import type { EventData, EventType } from '@waybill/contracts';
import { eventMessage } from '../events';
import type { MessageTransport } from '../transport.port';

/** What `emit(type, fields)` takes: the event's organisation, its key (partitioning) and its data. */
export interface EmittedEvent<T extends EventType = EventType> {
  orgId: string;
  key: string;
  data: EventData<T>;
}

/**
 * The producing side of the messaging port as a Nest `ClientProxy`: `emit(type, { orgId, key, data })`
 * publishes the event (a fresh id, the time now, on its type's topic) at once, outside any database
 * transaction, and the returned Observable completes once it is published. A write that must go
 * with a database change goes through the service's outbox instead (`commitWithEvents`), and
 * the log has no replies: `send()` fails.
 */
export class MessagingClient extends ClientProxy {
  constructor(private readonly transport: Pick<MessageTransport, 'publish'>) {
    super();
  }

  async connect(): Promise<void> {
    // The transport is opened and closed by the process's bootstrap.
  }

  async close(): Promise<void> {
    // Likewise.
  }

  unwrap<T>(): T {
    return this.transport as T;
  }

  protected publish(_packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({ err: new Error('the messaging port has no replies: use emit()'), isDisposed: true });
    return () => undefined;
  }

  protected async dispatchEvent<T = void>(packet: ReadPacket<EmittedEvent>): Promise<T> {
    await this.transport.publish([eventMessage(packet.pattern as EventType, packet.data)]);
    return undefined as T;
  }
}
