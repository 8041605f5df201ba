/** Options of a {@link GroupCommit}. */
export interface GroupCommitOptions<I> {
  /** Most items in one group (a single item larger than this still goes, alone). */
  maxItems: number;
  /** Most total weight in one group (bytes, say); an item heavier than this still goes, alone. Default: unbounded. */
  maxWeight?: number;
  weight?: (item: I) => number;
  /** Groups running at once. Default 1: the next group forms while one runs. */
  concurrency?: number;
  /** Told of each group that succeeded: its items and how long it ran (ms). For metrics. */
  onGroup?(items: number, ms: number): void;
}

interface Waiting<I, R> {
  item: I;
  weight: number;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

/**
 * Runs the work of concurrent callers together, the way a database's group commit or a Kafka
 * producer's linger does, but without a timer: a caller alone goes at once; while a group runs,
 * whoever comes waits and rides the next one, so groups grow with the load by themselves. Each
 * caller gets its own item's result, and only once its whole group is done (for a database
 * transaction: committed). When a group fails as a whole, each of its items is run again alone, so
 * that one item's failure (a value the database refuses, say) is its caller's alone.
 */
export class GroupCommit<I, R> {
  private queue: Waiting<I, R>[] = [];
  private running = 0;
  private readonly concurrency: number;

  /** `run` gets a group's items and answers one result per item, in order. */
  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly opts: GroupCommitOptions<I>,
  ) {
    this.concurrency = opts.concurrency ?? 1;
  }

  /** Callers waiting for a group to take them (not those of the groups running). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with `item`'s result once its group is done. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, weight: this.opts.weight?.(item) ?? 0, resolve, reject });
      if (this.running < this.concurrency) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running++;
    try {
      while (this.queue.length > 0) await this.runGroup(this.nextGroup());
    } finally {
      this.running--;
    }
  }

  private nextGroup(): Waiting<I, R>[] {
    const maxWeight = this.opts.maxWeight ?? Infinity;
    let n = 0;
    let weight = 0;
    while (n < this.queue.length && (n === 0 || (n < this.opts.maxItems && weight + this.queue[n].weight <= maxWeight))) {
      weight += this.queue[n].weight;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async runGroup(group: Waiting<I, R>[]): Promise<void> {
    try {
      const started = performance.now();
      settle(group, await this.run(group.map((w) => w.item)));
      this.opts.onGroup?.(group.length, performance.now() - started);
    } catch (err) {
      if (group.length === 1) {
        group[0].reject(err);
        return;
      }
      // Who made the group fail? Each alone: the others go on.
      await Promise.all(
        group.map(async (w) => {
          try {
            settle([w], await this.run([w.item]));
          } catch (itemErr) {
            w.reject(itemErr);
          }
        }),
      );
    }
  }
}

function settle<I, R>(group: Waiting<I, R>[], results: R[]): void {
  if (results.length !== group.length) throw new Error(`a group of ${group.length} got ${results.length} results`);
  group.forEach((w, i) => w.resolve(results[i]));
}
