import { silentLog } from '@waybill/messaging';
import type { OutgoingMessage } from '@waybill/messaging';
import { delivery, T0 } from '../../../__fixtures__/lane-spec';
import { Recovery } from './recovery';
import type { FinishedEntry } from './ports';

const event = (deliveryId: string, type = 'delivery.attempted.v1'): OutgoingMessage => ({ topic: 't', key: 'k', value: { type, data: { deliveryId } } });

function recovery(parked: string[], finished: Record<string, OutgoingMessage[]>) {
  const published: OutgoingMessage[] = [];
  const notes: FinishedEntry[] = [];
  const looked: string[][] = [];
  const r = new Recovery(
    { existing: async (ids) => (looked.push(ids), new Set(ids.filter((id) => parked.includes(id)))) },
    {
      finishedOf: async (ids) => new Map(ids.filter((id) => finished[id]).map((id) => [id, finished[id]])),
      noteFinished: async (entries) => void notes.push(...entries),
      forgetFinished: async () => undefined,
    },
    async (events) => void published.push(...events),
    silentLog,
  );
  return { r, published, notes, looked };
}

/** What a crash repeats: messages read again after their reader died. */
describe('Recovery', () => {
  it('deliveries of a partition just taken over: parked ones stay parked; finished ones have their events published again, not sent again', async () => {
    const { r, published } = recovery(['dl_2'], { dl_3: [event('dl_3')] });
    r.taken([0], T0);
    const left = await r.withoutSettled([delivery(1), delivery(2), delivery(3)], () => false, T0 + 1_000);
    expect(left.map((d) => d.request.deliveryId)).toEqual(['dl_1']);
    expect(published).toEqual([event('dl_3')]);
  });

  it('after the recovery window, or for deliveries held in memory, nothing is looked up', async () => {
    const { r, looked } = recovery(['dl_1'], {});
    r.taken([0], T0);
    expect(await r.withoutSettled([delivery(1)], () => false, T0 + 30_001)).toHaveLength(1);
    expect(await r.withoutSettled([delivery(1)], () => true, T0 + 1_000)).toHaveLength(1);
    expect(looked).toEqual([]);
  });

  it('notes each finished delivery with the events that name it', async () => {
    const { r, notes } = recovery([], {});
    await r.note([delivery(1), delivery(2)], [event('dl_1'), event('dl_2'), event('dl_1', 'transaction.failed.v1')]);
    expect(notes).toEqual([
      { deliveryId: 'dl_1', events: [event('dl_1'), event('dl_1', 'transaction.failed.v1')] },
      { deliveryId: 'dl_2', events: [event('dl_2')] },
    ]);
  });
});
