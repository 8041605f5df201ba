import { delivery } from '../../../__fixtures__/lane-spec';
import { HoldGuard } from './hold-guard';
import { Releases } from './releases';
import { Work } from './work';

const work = (n: number) => new Work('ch_1', [delivery(n)], null, 1, { stored: false });

/** The commit point's bound, on fake time: it waits for works to be released, asking about the laggards. */
describe('HoldGuard', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('resolves once every work is released, without asking anything when they are quick', async () => {
    const releases = new Releases();
    const check = jest.fn(async () => undefined);
    const [a, b] = [work(1), work(2)];
    const held = new HoldGuard(releases, { holdMs: 250, maxHoldMs: 3_000 }, check).hold([a, b, a]);
    a.released = true;
    releases.released([a]);
    b.released = true;
    releases.released([b]);
    await held;
    expect(check).not.toHaveBeenCalled();
  });

  it('every holdMs, asks about the works still held; after maxHoldMs, about everything left', async () => {
    const releases = new Releases();
    const asked: [string[], boolean][] = [];
    const [a, b] = [work(1), work(2)];
    const guard = new HoldGuard(releases, { holdMs: 250, maxHoldMs: 600 }, async (works, everything) => {
      asked.push([works.flatMap((w) => w.ids), everything]);
      if (!everything) return;
      for (const w of works) w.released = true;
      releases.released(works);
    });
    const held = guard.hold([a, b]);
    a.released = true;
    releases.released([a]);
    await jest.advanceTimersByTimeAsync(250);
    await jest.advanceTimersByTimeAsync(250);
    await jest.advanceTimersByTimeAsync(250);
    await held;
    expect(asked).toEqual([
      [['dl_2'], false],
      [['dl_2'], false],
      [['dl_2'], true],
    ]);
  });
});
