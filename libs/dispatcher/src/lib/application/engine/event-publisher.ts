import { GroupCommit, MessageTransport, OutgoingMessage } from '@waybill/messaging';

/** Most messages in one send. */
const MAX_BATCH = 2_000;

/**
 * Publishes the events of many attempts together: while one send is on its way, whatever comes
 * next waits and goes in the following one (a {@link GroupCommit}). Each caller's promise resolves
 * once its own messages are published. Outside any database transaction (the attempts that need
 * one use the outbox instead).
 */
export class EventPublisher {
  private readonly group: GroupCommit<OutgoingMessage[], void>;

  constructor(transport: Pick<MessageTransport, 'publish'>) {
    this.group = new GroupCommit<OutgoingMessage[], void>(
      async (sends) => {
        await transport.publish(sends.flat());
        return sends.map(() => undefined);
      },
      { maxItems: MAX_BATCH, maxWeight: MAX_BATCH, weight: (messages) => messages.length },
    );
  }

  publish(messages: OutgoingMessage[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.group.submit(messages);
  }
}
