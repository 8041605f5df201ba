import { GroupCommit } from './group-commit';

/** A run that records its groups and finishes when told to. */
function recorder(fail: (items: number[]) => boolean = () => false) {
  const groups: number[][] = [];
  const pending: Array<() => void> = [];
  const run = async (items: number[]): Promise<string[]> => {
    groups.push(items);
    await new Promise<void>((resolve) => pending.push(resolve));
    if (fail(items)) throw new Error(`refused ${items.join(',')}`);
    return items.map((i) => `done ${i}`);
  };
  /** Lets the oldest running group finish. */
  const finishOne = async () => {
    while (pending.length === 0) await new Promise((r) => setImmediate(r));
    (pending.shift() as () => void)();
  };
  return { groups, run, finishOne };
}

describe('GroupCommit', () => {
  it('runs a lone call at once, as a group of one', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.run, { maxItems: 10 });
    const answer = commit.submit(1);
    expect(r.groups).toEqual([[1]]);
    await r.finishOne();
    await expect(answer).resolves.toBe('done 1');
  });

  it('puts the calls that come while a group runs into the next group, each answered with its own result', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.run, { maxItems: 10 });
    const first = commit.submit(1);
    const rest = [2, 3, 4].map((i) => commit.submit(i));
    expect(r.groups).toEqual([[1]]); // the others wait for the running group
    await r.finishOne();
    await expect(first).resolves.toBe('done 1');
    await r.finishOne();
    await expect(Promise.all(rest)).resolves.toEqual(['done 2', 'done 3', 'done 4']);
    expect(r.groups).toEqual([[1], [2, 3, 4]]);
  });

  it('answers no caller before its whole group is done', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.run, { maxItems: 10 });
    void commit.submit(0);
    const answered: number[] = [];
    const group = [1, 2, 3].map((i) => commit.submit(i).then(() => answered.push(i)));
    await r.finishOne(); // the first group
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toEqual([]); // the second group still runs
    await r.finishOne();
    await Promise.all(group);
    expect(answered).toEqual([1, 2, 3]);
  });

  it('bounds a group by items and by weight; an item heavier than the bound goes alone', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.run, { maxItems: 3, maxWeight: 100, weight: (i: number) => i });
    const all = [1, 2, 3, 4, 5, 90, 20, 200, 7].map((i) => commit.submit(i));
    for (let n = 0; n < 6; n++) await r.finishOne();
    await Promise.all(all);
    expect(r.groups).toEqual([[1], [2, 3, 4], [5, 90], [20], [200], [7]]);
  });

  it('runs each item of a failed group alone: only the item that fails answers its caller with the error', async () => {
    const r = recorder((items) => items.includes(13));
    const commit = new GroupCommit(r.run, { maxItems: 10 });
    const first = commit.submit(1);
    const group = [12, 13, 14].map((i) =>
      commit.submit(i).then(
        (v) => v,
        (err: Error) => err.message,
      ),
    );
    await r.finishOne(); // [1]
    await r.finishOne(); // [12, 13, 14] fails
    for (let n = 0; n < 3; n++) await r.finishOne(); // each alone
    await expect(first).resolves.toBe('done 1');
    await expect(Promise.all(group)).resolves.toEqual(['done 12', 'refused 13', 'done 14']);
    expect(r.groups.slice(2).sort()).toEqual([[12], [13], [14]]);
  });

  it('tells how many items each group carried', async () => {
    const r = recorder();
    const sizes: number[] = [];
    const commit = new GroupCommit(r.run, { maxItems: 10, onGroup: (n) => sizes.push(n) });
    const all = [1, 2, 3].map((i) => commit.submit(i));
    await r.finishOne();
    await r.finishOne();
    await Promise.all(all);
    expect(sizes).toEqual([1, 2]);
  });
});
