import type { OutgoingMessage } from '@waybill/messaging';
import { EventPublisher } from './event-publisher';

const msg = (key: string): OutgoingMessage => ({ topic: 'waybill.transaction-events', key, value: { key } });

describe('EventPublisher: the events of many attempts, sent together', () => {
  it('what comes while a send is on its way goes in the next one, and each caller hears when its own are out', async () => {
    const sends: string[][] = [];
    let finish: () => void = () => undefined;
    const publisher = new EventPublisher({
      publish: (messages) => {
        sends.push(messages.map((m) => m.key));
        return new Promise<void>((resolve) => (finish = resolve));
      },
    });
    const a = publisher.publish([msg('a')]);
    const b = publisher.publish([msg('b1'), msg('b2')]);
    const c = publisher.publish([msg('c')]);
    expect(sends).toEqual([['a']]);
    finish();
    await a;
    await Promise.resolve();
    expect(sends).toEqual([['a'], ['b1', 'b2', 'c']]);
    finish();
    await Promise.all([b, c]);
  });

  it('a failed send fails exactly its callers; the next ones go on', async () => {
    let calls = 0;
    const publisher = new EventPublisher({
      publish: async () => {
        if (calls++ === 0) throw new Error('broker down');
      },
    });
    const a = publisher.publish([msg('a')]);
    const b = publisher.publish([msg('b')]);
    await expect(a).rejects.toThrow('broker down');
    await expect(b).resolves.toBeUndefined();
  });

  it('nothing to publish resolves at once', async () => {
    const publisher = new EventPublisher({ publish: jest.fn() });
    await publisher.publish([]);
  });
});
