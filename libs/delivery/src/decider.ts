/**
 * The shape of Waybill's rules over events (Emmett's decider): the state before any event, how
 * one event changes it, and what a command decides on it. All three are pure; time, ids and
 * lookups come in with the command or its arguments, never from a clock or a database.
 *
 * `Init` is what the initial state needs (a transaction's id, say); most deciders need nothing.
 */
export interface Decider<State, Command, Event, Decision, Init extends unknown[] = []> {
  initialState: (...init: Init) => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Decision;
}

/**
 * What a command decided: the events to publish (none when there is nothing left to do), or why
 * it is refused — an error as a value, with a stable code, turned into a problem at the HTTP edge.
 */
export type Decided<Event, Rejection> = { ok: true; events: Event[] } | { ok: false; rejection: Rejection };
