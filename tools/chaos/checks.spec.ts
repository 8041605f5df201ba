import { recoveries, verdict } from './checks';
import type { Arrival } from './receiver';

const arrival = (transactionId: string, deliveryId: string, attempt: number, at = 0): Arrival => ({ behaviour: 'ok', transactionId, deliveryId, attempt, at, from: null });

describe('the chaos run’s verdict', () => {
  it('a transaction in the status its partner dictates, seen by its partner, is fine', () => {
    const v = verdict(new Map([['tx_1', 'ok'], ['tx_2', 'reject'], ['tx_3', 'pull']]), new Map([['tx_1', 'ACCEPTED'], ['tx_2', 'REJECTED'], ['tx_3', 'ACCEPTED']]), [
      arrival('tx_1', 'dl_1', 1),
      arrival('tx_2', 'dl_2', 1),
    ]);
    expect(v).toEqual({ lost: [], wrongStatus: [], duplicates: 0 });
  });

  it('lost: not final, unknown, or a push transaction its partner never saw', () => {
    const v = verdict(new Map([['tx_1', 'ok'], ['tx_2', 'ok'], ['tx_3', 'ok']]), new Map([['tx_1', 'SENDING'], ['tx_3', 'ACCEPTED']]), [arrival('tx_1', 'dl_1', 1)]);
    expect(v.lost).toEqual(['tx_1', 'tx_2', 'tx_3']);
  });

  it('wrong status: final, but not what the partner dictates', () => {
    expect(verdict(new Map([['tx_1', 'hang']]), new Map([['tx_1', 'ACCEPTED']]), [arrival('tx_1', 'dl_1', 1)]).wrongStatus).toEqual(['tx_1']);
  });

  it('a duplicate is the same delivery and attempt again; a retry (attempt 2) and a redelivery (another delivery id) are not', () => {
    const arrivals = [arrival('tx_1', 'dl_1', 1), arrival('tx_1', 'dl_1', 2), arrival('tx_1', 'dl_9', 1), arrival('tx_1', 'dl_1', 1), arrival('tx_1', 'dl_1', 1)];
    expect(verdict(new Map([['tx_1', 'ok']]), new Map([['tx_1', 'ACCEPTED']]), arrivals).duplicates).toBe(2);
  });
});

describe('recovery after a fault', () => {
  const steady = (fromMs: number, toMs: number, perSec: number) => Array.from({ length: ((toMs - fromMs) * perSec) / 1000 }, (_, i) => fromMs + (i * 1000) / perSec);

  it('a fault with no visible effect recovers at once', () => {
    expect(recoveries(steady(0, 20_000, 10), [5_000], 10, 20_000)).toEqual([0]);
  });

  it('a stall recovers when a window of deliveries is within 20% of the steady rate again, its backlog drained', () => {
    // Nothing from 5 s to 8 s, then the backlog at twice the rate until 11 s, then steady again.
    const arrivals = [...steady(0, 5_000, 10), ...steady(8_000, 11_000, 20), ...steady(11_000, 30_000, 10)];
    const [r] = recoveries(arrivals, [5_000], 10, 30_000);
    expect(r).toBeGreaterThanOrEqual(5);
    expect(r).toBeLessThanOrEqual(7);
  });

  it('no recovery before the run ends: null', () => {
    expect(recoveries(steady(0, 5_000, 10), [5_000], 10, 12_000)).toEqual([null]);
  });
});
