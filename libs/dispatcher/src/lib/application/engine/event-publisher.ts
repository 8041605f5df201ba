import type { MessageTransport, OutgoingMessage } from '@waybill/messaging';

/** Most messages in one send. */
const MAX_BATCH = 2_000;

interface Pending {
  messages: OutgoingMessage[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Publishes the events of many attempts together: while one send is on its way, whatever comes
 * next waits and goes in the following one (group commit). Each caller's promise resolves once
 * its own messages are published. Outside any database transaction (the attempts that need one
 * use the outbox instead).
 */
export class EventPublisher {
  private queue: Pending[] = [];
  private sending = false;

  constructor(private readonly transport: Pick<MessageTransport, 'publish'>) {}

  publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch: Pending[] = [];
        let count = 0;
        while (this.queue.length > 0 && (count === 0 || count + this.queue[0].messages.length <= MAX_BATCH)) {
          const next = this.queue.shift() as Pending;
          batch.push(next);
          count += next.messages.length;
        }
        try {
          await this.transport.publish(batch.flatMap((p) => p.messages));
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.sending = false;
    }
  }
}
