import { InFlightBudget } from './in-flight-budget';

describe('InFlightBudget: requests in flight, a pool for healthy channels and one for slow ones', () => {
  it('healthy and slow channels each take from their own pool', () => {
    const b = new InFlightBudget(2, 1);
    expect([b.take(false), b.take(false), b.take(false)]).toEqual(['normal', 'normal', null]);
    expect([b.take(true), b.take(true)]).toEqual(['slow', null]);
    expect(b.inFlight).toBe(3);
  });

  it('slow channels never take a healthy slot, however many wait', () => {
    const b = new InFlightBudget(10, 2);
    const slow = Array.from({ length: 50 }, () => b.take(true));
    expect(slow.filter(Boolean)).toHaveLength(2);
    expect(b.room(false)).toBe(10);
  });

  it('a request found slow gives its healthy slot back at once; the slow pool then takes no more until it is under its size', () => {
    const b = new InFlightBudget(2, 1);
    b.take(false);
    b.take(false);
    expect(b.room(false)).toBe(0);
    expect(b.demote()).toBe('slow');
    expect(b.demote()).toBe('slow');
    expect(b.room(false)).toBe(2);
    expect(b.take(true)).toBeNull(); // two slow in flight, pool of one
    b.release('slow');
    expect(b.take(true)).toBeNull();
    b.release('slow');
    expect(b.take(true)).toBe('slow');
  });

  it('calls back who waited, oldest first, while there is room, each once', () => {
    const b = new InFlightBudget(1, 1);
    b.take(false);
    const calls: string[] = [];
    const first = () => {
      calls.push('first');
      b.take(false);
    };
    const second = () => calls.push('second');
    b.whenRoom(first);
    b.whenRoom(second);
    b.whenRoom(first);
    b.release('normal');
    // `first` took the slot; the slow pool still has room, so `second` hears of it too.
    expect(calls).toEqual(['first', 'second']);
    b.release('normal');
    expect(calls).toEqual(['first', 'second']);
  });
});
