import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import Opossum from 'opossum';
import { specification } from '@waybill/testing';
import { BreakerSettings, BUCKET_MS, CircuitBreaker, CircuitTransition } from './circuit-breaker';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => T0 + ms;
const settings: BreakerSettings = { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 30_000 };

/** What happens to a breaker: requests leave and answer, time passes, settings change. */
type BreakerEvent =
  | { kind: 'sent'; at: number }
  | { kind: 'answered'; at: number; failed: boolean; what?: string }
  | { kind: 'tick'; at: number }
  | { kind: 'configured'; settings: BreakerSettings };

interface Seen {
  breaker: CircuitBreaker;
  transitions: CircuitTransition[];
}

/** A request sent and answered at `ms`: a 500 (failed) or a 200. */
const request = (ms: number, failed: boolean): BreakerEvent[] => [
  { kind: 'sent', at: at(ms) },
  { kind: 'answered', at: at(ms), failed, what: failed ? 'HTTP 500' : 'HTTP 200' },
];
const down = (ms = 0) => request(ms, true);
const ok = (ms = 0) => request(ms, false);
const tick = (ms: number): BreakerEvent => ({ kind: 'tick', at: at(ms) });

function evolve(seen: Seen, e: BreakerEvent): Seen {
  const { breaker } = seen;
  let t: CircuitTransition | null = null;
  switch (e.kind) {
    case 'sent':
      breaker.fired(e.at);
      break;
    case 'answered':
      t = breaker.answered(e.failed, e.what ?? 'HTTP 500', e.at);
      break;
    case 'tick':
      t = breaker.tick(e.at);
      break;
    case 'configured':
      breaker.configure(e.settings);
      break;
  }
  return t ? { breaker, transitions: [...seen.transitions, t] } : seen;
}

const circuit = specification<Seen, BreakerEvent>({ initialState: () => ({ breaker: new CircuitBreaker(settings), transitions: [] }), evolve });
const stateOf = (expected: string, transitions?: string[]) => (s: Seen) => {
  expect(s.breaker.state).toBe(expected);
  if (transitions) expect(s.transitions.map((t) => t.to)).toEqual(transitions);
};

describe('CircuitBreaker: one channel circuit as a state machine, given what was sent and answered', () => {
  it('stays closed below the volume threshold, however many fail', () => {
    circuit.given().when(...down(), ...down(), ...down()).then(stateOf('CLOSED', []));
  });

  it('opens once more than the threshold failed with enough volume, and says why', () => {
    const seen = circuit
      .given(...ok(), ...down(), ...ok())
      .when(...down(), ...down())
      .then(stateOf('OPEN', ['OPEN']));
    expect(seen.transitions[0]).toEqual({
      to: 'OPEN',
      at: new Date(at(0)),
      reason: expect.stringMatching(/^3 of 5 requests failed within 10 s \(threshold 50%\); last: HTTP 500$/),
      halfOpensAt: new Date(at(30_000)),
    });
    expect(seen.breaker.halfOpensAt).toEqual(new Date(at(30_000)));
  });

  it('exactly the threshold keeps it closed (more than, not as many as)', () => {
    circuit.given(...ok(), ...ok(), ...down()).when(...down()).then(stateOf('CLOSED', [])); // 2 of 4: 50%
  });

  it('answers that do not count keep it closed', () => {
    circuit.given(...Array.from({ length: 10 }, () => ok()).flat()).when(...ok()).then(stateOf('CLOSED', []));
  });

  it('half-opens once resetTimeoutMs has passed, not before', () => {
    const opened = [...down(), ...down(), ...down(), ...down()];
    circuit.given(...opened).when(tick(29_999)).then(stateOf('OPEN', ['OPEN']));
    circuit.given(...opened).when(tick(30_000)).then(stateOf('HALF_OPEN', ['OPEN', 'HALF_OPEN']));
  });

  it('half-open, its first request is the probe: nothing else may go while it is out', () => {
    const s = circuit.given(...down(), ...down(), ...down(), ...down(), tick(30_000)).when({ kind: 'sent', at: at(30_000) }).state;
    expect(s.breaker.probeOut).toBe(true);
  });

  it("the probe's success closes it; its failure opens it again for another resetTimeoutMs", () => {
    const halfOpen = [...down(), ...down(), ...down(), ...down(), tick(30_000)];
    circuit.given(...halfOpen).when(...ok(30_000)).then(stateOf('CLOSED', ['OPEN', 'HALF_OPEN', 'CLOSED']));
    const again = circuit.given(...halfOpen).when(...request(30_000, true)).then(stateOf('OPEN', ['OPEN', 'HALF_OPEN', 'OPEN']));
    expect(again.transitions[2]).toMatchObject({ reason: 'the half-open probe failed: HTTP 500', halfOpensAt: new Date(at(60_000)) });
  });

  it('a probe cut off without an answer lets another go', () => {
    const s = circuit.given(...down(), ...down(), ...down(), ...down(), tick(30_000), { kind: 'sent', at: at(30_000) }).state;
    s.breaker.probeLost();
    expect(s.breaker).toMatchObject({ state: 'HALF_OPEN', probeOut: false });
  });

  it('closed again, it starts from a fresh window: the failures that opened it do not open it at once', () => {
    circuit.given(...down(), ...down(), ...down(), ...down(), tick(30_000), ...ok(30_000)).when(...down(30_001)).then(stateOf('CLOSED', ['OPEN', 'HALF_OPEN', 'CLOSED']));
  });

  it('failures older than the window (10 buckets of 1 s) are forgotten', () => {
    circuit.given(...down(0), ...down(0), ...down(0)).when(...down(10 * BUCKET_MS)).then(stateOf('CLOSED', []));
    circuit.given(...down(0), ...down(0), ...down(0)).when(...down(9 * BUCKET_MS + 999)).then(stateOf('OPEN', ['OPEN']));
  });

  it('failures of requests that left before the window moved on count when they answer', () => {
    const sent = Array.from({ length: 4 }, (): BreakerEvent => ({ kind: 'sent', at: at(0) }));
    const answered = Array.from({ length: 4 }, (): BreakerEvent => ({ kind: 'answered', at: at(500), failed: true }));
    circuit.given(...sent).when(...answered).then(stateOf('OPEN', ['OPEN']));
  });

  it('a request sent before it opened and answered while open changes nothing', () => {
    circuit.given(...down(), ...down(), ...down(), ...down()).when({ kind: 'answered', at: at(10), failed: false }).then(stateOf('OPEN', ['OPEN']));
  });

  it('new settings apply at once while closed, and only once it has closed when open', () => {
    const twoFailures = { ...settings, volumeThreshold: 2 };
    circuit.given({ kind: 'configured', settings: twoFailures }).when(...down(), ...down()).then(stateOf('OPEN'));
    const quick = { ...twoFailures, resetTimeoutMs: 1_000 };
    const opened = [{ kind: 'configured', settings: twoFailures } as const, ...down(), ...down(), { kind: 'configured', settings: quick } as const];
    circuit.given(...opened).when(tick(1_000)).then(stateOf('OPEN')); // still the reset timeout it opened with
    circuit
      .given(...opened, tick(30_000), ...ok(30_000))
      .when(...down(30_001), ...down(30_001), tick(31_001))
      .then(stateOf('HALF_OPEN', ['OPEN', 'HALF_OPEN', 'CLOSED', 'OPEN', 'HALF_OPEN'])); // the new one
  });
});

/**
 * The same rules as opossum, which the design names: on random histories of requests (failed or
 * not) and time passing, this breaker and opossum 9 — configured as Waybill configured it (its own
 * timeout off, ten one-second buckets moved on by one shared clock, a fresh breaker once a probe
 * closed the circuit) — go through the same states. Requests go only when the circuit lets them
 * (closed, or half-open with no probe out), as the dispatcher sends them.
 */
describe('CircuitBreaker goes through the same states as opossum', () => {
  type Step = { waitMs: number; send: boolean; failed: boolean };

  beforeEach(() => jest.useFakeTimers({ now: T0 }));
  afterEach(() => jest.useRealTimers());

  it('on random histories', async () => {
    const visited = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({ errorThresholdPercentage: fc.oneof(fc.constantFrom(25, 50), fc.integer({ min: 1, max: 99 })), volumeThreshold: fc.integer({ min: 1, max: 6 }), resetTimeoutMs: fc.integer({ min: 200, max: 5_000 }) })
          .chain((s) => {
            // Waits that land on the edges: a bucket's end, the reset timeout, a millisecond short of either.
            const waitMs = fc.oneof(fc.constant(0), fc.constantFrom(1, BUCKET_MS - 1, BUCKET_MS, s.resetTimeoutMs - 1, s.resetTimeoutMs), fc.integer({ min: 1, max: 4_000 }));
            return fc.tuple(fc.constant(s), fc.array(fc.record({ waitMs, send: fc.boolean(), failed: fc.boolean() }), { maxLength: 60 }));
          }),
        async ([s, steps]: [BreakerSettings, Step[]]) => {
          jest.setSystemTime(T0);
          const reference = new OpossumReference(s);
          const breaker = new CircuitBreaker(s);
          try {
            for (const step of steps) {
              reference.wait(step.waitMs);
              breaker.tick(Date.now());
              expect(breaker.state).toBe(reference.state);
              visited.add(breaker.state);
              if (!step.send || reference.state === 'OPEN') continue;
              breaker.fired(Date.now());
              await reference.send(step.failed);
              breaker.answered(step.failed, 'x', Date.now());
              expect(breaker.state).toBe(reference.state);
            }
          } finally {
            reference.dispose();
          }
        },
      ),
      { numRuns: 400 },
    );
    expect([...visited].sort()).toEqual(['CLOSED', 'HALF_OPEN', 'OPEN']); // the histories went through every state
  });
});

/** opossum as the dispatcher used it before this breaker, driven by fake time. */
class OpossumReference {
  private readonly clock = new EventEmitter();
  private breaker: Opossum<[boolean], void>;

  constructor(private readonly settings: BreakerSettings) {
    this.breaker = this.build();
  }

  get state(): 'CLOSED' | 'OPEN' | 'HALF_OPEN' {
    return this.breaker.halfOpen ? 'HALF_OPEN' : this.breaker.opened ? 'OPEN' : 'CLOSED';
  }

  /** Lets `ms` pass, moving the window on at each bucket's end (the shared clock's ticks). */
  wait(ms: number): void {
    const end = Date.now() + ms;
    for (let next = (Math.floor(Date.now() / BUCKET_MS) + 1) * BUCKET_MS; next <= end; next += BUCKET_MS) {
      jest.advanceTimersByTime(next - Date.now());
      this.clock.emit('rotate');
    }
    jest.advanceTimersByTime(end - Date.now());
  }

  async send(failed: boolean): Promise<void> {
    await this.breaker.fire(failed).catch(() => undefined);
  }

  dispose(): void {
    this.breaker.shutdown();
  }

  private build(): Opossum<[boolean], void> {
    const breaker = new Opossum(async (failed: boolean) => {
      if (failed) throw new Error('HTTP 500');
    }, {
      timeout: false,
      errorThresholdPercentage: this.settings.errorThresholdPercentage,
      volumeThreshold: this.settings.volumeThreshold,
      resetTimeout: this.settings.resetTimeoutMs,
      rollingCountTimeout: 10 * BUCKET_MS,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: this.clock,
    });
    breaker.on('close', () => {
      const old = this.breaker;
      this.breaker = this.build();
      old.shutdown();
    });
    return breaker;
  }
}
