/** Which partitions of each topic (logical names) a member of a group now reads. */
export type Assignment = Record<string, number[]>;

/**
 * The consumer groups of this process, as services see them (injectable: the platform provides
 * the transport strategy under this token). What a handler alone cannot do: read-your-writes
 * (`catchUp`) and partition ownership (`onAssignment`).
 */
export abstract class ConsumerGroups {
  /**
   * Resolves true once `group` has handled everything that was on its topics when called, false
   * when `timeoutMs` passed first — or when the group is not running (before the consumers start,
   * after they stop): nothing is read then.
   */
  abstract catchUp(group: string, timeoutMs: number): Promise<boolean>;

  /** Whether `group` is subscribed (between the consumers' start and stop). */
  abstract isRunning(group: string): boolean;

  /**
   * Calls `listener` whenever the partitions this instance reads for `group` change (see
   * `SubscriptionSpec.onAssignment`): Kafka on each join of the group, and with none when a
   * rebalance takes them away; the embedded log once at start, with every partition. Register
   * before the consumers start (in a constructor or `onModuleInit`).
   */
  abstract onAssignment(group: string, listener: (assignment: Assignment) => void): void;
}
