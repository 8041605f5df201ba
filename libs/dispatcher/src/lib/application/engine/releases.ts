import type { Work } from './work';

/**
 * The commit point's signal: resolves, for whoever waits on a work, once its lane released it (its
 * messages may be acknowledged: it is finished, or durably in the parked line).
 */
export class Releases {
  private readonly waiting = new WeakMap<Work, { promise: Promise<void>; resolve: () => void }>();

  of(work: Work): Promise<void> {
    if (work.released) return Promise.resolve();
    let w = this.waiting.get(work);
    if (!w) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.waiting.set(work, (w = { promise, resolve }));
    }
    return w.promise;
  }

  released(works: Work[]): void {
    for (const work of works) {
      this.waiting.get(work)?.resolve();
      this.waiting.delete(work);
    }
  }
}
