import type { Releases } from './releases';
import type { Work } from './work';

/**
 * The commit point's bound. A batch of `waybill.deliveries` may be acknowledged once each of its
 * works is released (finished, or durably parked). The guard waits for them, asking every `holdMs`
 * which of those still held would hold the batch up (`check`: their lanes decide, and park them —
 * see `holdCheck`), and after `maxHoldMs` has them park whatever is left. A healthy channel that is
 * merely busy keeps its works in memory: the batch waits for them, which holds the partition back
 * at the speed deliveries go, with no database write.
 */
export class HoldGuard {
  constructor(
    private readonly releases: Releases,
    private readonly options: { holdMs: number; maxHoldMs: number },
    /** Has the works' lanes hand over those that would hold the batch up (all of them with `everything`); resolves once written. */
    private readonly check: (works: Work[], everything: boolean) => Promise<void>,
  ) {}

  async hold(works: Iterable<Work>): Promise<void> {
    const all = [...new Set(works)];
    if (all.length === 0) return;
    const released = Promise.all(all.map((w) => this.releases.of(w)));
    const started = Date.now();
    while (!(await settlesWithin(released, this.options.holdMs))) {
      const everything = Date.now() - started >= this.options.maxHoldMs;
      await this.check(all.filter((w) => !w.released), everything);
    }
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
