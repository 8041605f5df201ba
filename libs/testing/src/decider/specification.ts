/**
 * A tiny given/when/then helper for deciders (`{ initialState, evolve, decide }`):
 *
 *   const transaction = specification({ ...transactionDecider, initialState: () => initialView('tx_1', 'org_1', T0) });
 *
 *   // evolve: given these events, when these events too, then the state is …
 *   transaction.given(received, routed).when(accepted).then({ status: 'ACCEPTED', nextAttemptAt: null });
 *
 *   // decide: given these events, when this command, then these events — or this error
 *   transaction.given(received, routed, dispatched).whenCommand({ type: 'AcceptTransaction' }).then(acceptedByApi);
 *   transaction.given(received, routed).whenCommand({ type: 'AcceptTransaction' }).thenError({ code: 'TRANSACTION_NOT_DISPATCHED' });
 *
 * `given` folds the history with `evolve`. `when` folds more events, and `then` checks the state:
 * a partial object (`toMatchObject`) or a function that makes its own assertions. `whenCommand`
 * runs `decide` on the state, and `then` checks the events it decided (exactly, in order; none
 * for "nothing left to do"), `thenError` the rejection (`toMatchObject`). A decision is
 * `{ ok: true, events } | { ok: false, rejection }`: errors are values, not throws.
 *
 * Pure: it only calls the decider. Uses Jest's global `expect`, so it runs inside Jest tests only.
 * Structural on purpose: it names no library's types, so any library's specs can use it.
 */
export interface Fold<S, E> {
  /** The state before any event (a factory, so no test shares a mutable state with another). */
  initialState: () => S;
  evolve: (state: S, event: E) => S;
}

/** What a command decided: the events to publish, or why not. */
export type DecisionOf<O, R> = { ok: true; events: readonly O[] } | { ok: false; rejection: R };

export interface DeciderOf<S, E, C, O, R> extends Fold<S, E> {
  decide: (command: C, state: S) => DecisionOf<O, R>;
}

export interface Then<S> {
  /** Asserts on the state after the `when` events; returns it for further checks. */
  then(expected: Partial<S> | ((state: S) => void)): S;
  /** The state after the `when` events, unchecked. */
  readonly state: S;
}

export interface ThenDecided<O, R> {
  /** Asserts that the command decided exactly these events (none: nothing left to do); returns them. */
  then(...expected: O[]): readonly O[];
  /** Asserts that the command was refused with (at least) this rejection; returns it. */
  thenError(expected: Partial<R>): R;
  /** The decision, unchecked. */
  readonly decision: DecisionOf<O, R>;
}

export interface When<S, E, C, O, R> {
  when(...events: E[]): Then<S>;
  /** Decides `command` on the state after the `given` events. Needs a decider with `decide`. */
  whenCommand(command: C): ThenDecided<O, R>;
  /** The state after the `given` events. */
  readonly state: S;
}

export interface Specification<S, E, C, O, R> {
  given(...events: E[]): When<S, E, C, O, R>;
}

export function specification<S, E, C, O, R>(decider: DeciderOf<S, E, C, O, R>): Specification<S, E, C, O, R>;
export function specification<S, E>(fold: Fold<S, E>): Specification<S, E, never, never, never>;
export function specification<S, E, C, O, R>(decider: Fold<S, E> & Partial<Pick<DeciderOf<S, E, C, O, R>, 'decide'>>): Specification<S, E, C, O, R> {
  const run = (state: S, events: readonly E[]): S => events.reduce(decider.evolve, state);
  return {
    given(...history) {
      const before = run(decider.initialState(), history);
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
        whenCommand(command) {
          if (!decider.decide) throw new Error('whenCommand needs a decider with decide()');
          const decision = decider.decide(command, before);
          return {
            decision,
            then(...expected) {
              expect(decision).toEqual({ ok: true, events: expected });
              return expected;
            },
            thenError(expected) {
              expect(decision).toMatchObject({ ok: false, rejection: expected });
              return (decision as { rejection: R }).rejection;
            },
          };
        },
      };
    },
  };
}
