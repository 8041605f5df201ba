/** Which pool a request's slot is from. */
export type Slot = 'normal' | 'slow';

/**
 * The instance's budget of requests in flight, in two pools so that slow channels cannot take it
 * from healthy ones: requests of healthy channels take a slot of the normal pool, those of slow
 * channels one of the slow pool. A request found slow while it runs moves to the slow pool
 * (`demote`), freeing its normal slot at once; the slow pool may then be over its size until its
 * requests end, and takes no more meanwhile. A channel that found no room is called back, oldest
 * first, when room frees.
 */
export class InFlightBudget {
  private normalUsed = 0;
  private slowUsed = 0;
  private readonly waiting = new Set<() => void>();

  constructor(
    /** Slots of healthy channels. */
    readonly normal: number,
    /** Slots of slow channels, together. */
    readonly slow: number,
  ) {}

  get inFlight(): number {
    return this.normalUsed + this.slowUsed;
  }

  /** Slots a channel (slow or not) could take now. */
  room(slow: boolean): number {
    return slow ? Math.max(0, this.slow - this.slowUsed) : Math.max(0, this.normal - this.normalUsed);
  }

  /** Takes a slot; null when there is none (ask again after `whenRoom`). */
  take(slow: boolean): Slot | null {
    if (this.room(slow) <= 0) return null;
    if (slow) this.slowUsed++;
    else this.normalUsed++;
    return slow ? 'slow' : 'normal';
  }

  /** Counts a request in flight whatever the room (a slot was counted as free and was not). */
  occupy(slow: boolean): void {
    if (slow) this.slowUsed++;
    else this.normalUsed++;
  }

  release(slot: Slot): void {
    if (slot === 'slow') this.slowUsed--;
    else this.normalUsed--;
    this.wakeWaiting();
  }

  /** A running request of a channel found slow: its normal slot becomes a slow one. */
  demote(): Slot {
    this.normalUsed--;
    this.slowUsed++;
    this.wakeWaiting();
    return 'slow';
  }

  /** Calls `cb` once, the next time a slot frees (a Set: asking twice is asking once). */
  whenRoom(cb: () => void): void {
    this.waiting.add(cb);
  }

  private wakeWaiting(): void {
    // Oldest first, while there is room: each takes what it can (synchronously) or asks again (at
    // the end). No copy of the set: thousands of channels may wait, and this runs at every release.
    let turns = this.waiting.size;
    for (const cb of this.waiting) {
      if (turns-- <= 0 || (this.room(false) <= 0 && this.room(true) <= 0)) break;
      this.waiting.delete(cb);
      cb();
    }
  }
}
