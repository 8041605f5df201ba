/**
 * A tiny given/when/then helper for event-sourced folds:
 *
 *   specification({ initial: () => initialView('tx_1', 'org_1', T0), evolve })
 *     .given(received, routed)
 *     .when(accepted)
 *     .then({ status: 'ACCEPTED', nextAttemptAt: null });
 *
 * `given` folds the history, `when` folds one more event, `then` checks the resulting state: a
 * partial object (compared with `toMatchObject`) or a function that makes its own assertions.
 * Pure: it only calls `evolve`. Uses Jest's global `expect`, so it runs inside Jest tests only.
 */
export interface Fold<S, E> {
  /** The state before any event (a factory, so no test shares a mutable state with another). */
  initial: () => S;
  evolve: (state: S, event: E) => S;
}

export interface Then<S> {
  /** Asserts on the state after the `when` event; returns it for further checks. */
  then(expected: Partial<S> | ((state: S) => void)): S;
  /** The state after the `when` event, unchecked. */
  readonly state: S;
}

export interface When<S, E> {
  when(...events: E[]): Then<S>;
  /** The state after the `given` events. */
  readonly state: S;
}

export interface Specification<S, E> {
  given(...events: E[]): When<S, E>;
}

export function specification<S, E>(fold: Fold<S, E>): Specification<S, E> {
  const run = (state: S, events: readonly E[]): S => events.reduce(fold.evolve, state);
  return {
    given(...history) {
      const before = run(fold.initial(), history);
      return {
        state: before,
        when(...events) {
          const after = run(before, events);
          return {
            state: after,
            then(expected) {
              if (typeof expected === 'function') expected(after);
              else expect(after).toMatchObject(expected as object);
              return after;
            },
          };
        },
      };
    },
  };
}
