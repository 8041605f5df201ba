import { BreakerClock, ChannelBreaker, CircuitOpenError, CircuitTransition } from './channel-breaker';

type Answer = { status: number };
const ok: Answer = { status: 200 };
const down: Answer = { status: 500 };
const counts = (a: Answer) => a.status >= 500;
const describeAnswer = (a: Answer) => `HTTP ${a.status}`;

/** The breaker as a state machine, on fake time: given answers, then the state and the transitions it reported. */
describe('ChannelBreaker: one channel circuit, on opossum, with fake timers', () => {
  let clock: BreakerClock;
  let transitions: CircuitTransition[];
  let breaker: ChannelBreaker;
  const settings = { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 30_000 };

  const send = (answer: Answer) => breaker.run(async () => answer, counts, describeAnswer);
  const sendAll = async (...answers: Answer[]) => {
    for (const a of answers) await send(a);
  };

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00.000Z') });
    clock = new BreakerClock();
    transitions = [];
    breaker = new ChannelBreaker('ch_1', settings, clock, (t) => transitions.push(t));
  });

  afterEach(() => {
    breaker.dispose();
    clock.stop();
    jest.useRealTimers();
  });

  it('stays closed below the volume threshold, however many fail', async () => {
    await sendAll(down, down, down);
    expect(breaker.state).toBe('CLOSED');
    expect(transitions).toEqual([]);
  });

  it('opens once the failure rate passes the threshold with enough volume, and says why', async () => {
    // The window starts at the first failure: the answers before it need no keeping.
    await sendAll(ok, ok, down, ok, down, ok);
    expect(breaker.state).toBe('CLOSED'); // 2 of 4: 50% is not more than 50%
    await send(down);
    expect(breaker.state).toBe('OPEN');
    expect(transitions).toEqual([
      { to: 'OPEN', at: new Date('2030-01-01T00:00:00.000Z'), reason: expect.stringMatching(/3 of 5 requests failed .*threshold 50%.*last: HTTP 500/), halfOpensAt: new Date('2030-01-01T00:00:30.000Z') },
    ]);
    expect(breaker.halfOpensAt).toEqual(new Date('2030-01-01T00:00:30.000Z'));
  });

  it('results that do not count (2xx, 4xx, 429) keep it closed, and still come back as results', async () => {
    for (let i = 0; i < 10; i++) await expect(send({ status: i % 2 ? 429 : 404 })).resolves.toEqual({ status: i % 2 ? 429 : 404 });
    expect(breaker.state).toBe('CLOSED');
  });

  it('while open, it refuses with a typed error and does not call the partner', async () => {
    await sendAll(down, down, down, down);
    const partner = jest.fn(async () => ok);
    await expect(breaker.run(partner, counts, describeAnswer)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(partner).not.toHaveBeenCalled();
  });

  it('half-opens after resetTimeoutMs and lets exactly one probe through; its success closes it', async () => {
    await sendAll(down, down, down, down);
    jest.advanceTimersByTime(29_999);
    expect(breaker.state).toBe('OPEN');
    jest.advanceTimersByTime(1);
    expect(breaker.state).toBe('HALF_OPEN');
    let answer!: (a: Answer) => void;
    const probe = breaker.run(() => new Promise<Answer>((r) => (answer = r)), counts, describeAnswer);
    await expect(send(ok)).rejects.toBeInstanceOf(CircuitOpenError); // the probe is out: nobody else
    answer(ok);
    await expect(probe).resolves.toEqual(ok);
    expect(breaker.state).toBe('CLOSED');
    expect(transitions.map((t) => t.to)).toEqual(['OPEN', 'HALF_OPEN', 'CLOSED']);
  });

  it('a failed probe opens it again, for another resetTimeoutMs', async () => {
    await sendAll(down, down, down, down);
    jest.advanceTimersByTime(30_000);
    await send(down);
    expect(breaker.state).toBe('OPEN');
    expect(transitions[2]).toMatchObject({ to: 'OPEN', reason: 'the half-open probe failed: HTTP 500' });
    jest.advanceTimersByTime(30_000);
    expect(breaker.state).toBe('HALF_OPEN');
  });

  it('closed again, it starts from a fresh window: the failures that opened it do not open it at once', async () => {
    await sendAll(down, down, down, down);
    jest.advanceTimersByTime(30_000);
    await send(ok);
    await send(down);
    expect(breaker.state).toBe('CLOSED');
  });

  it('failures older than the rolling window (10 s) are forgotten, moved on by the shared clock', async () => {
    await sendAll(down, down, down);
    jest.advanceTimersByTime(10_000);
    await send(down);
    expect(breaker.state).toBe('CLOSED');
  });

  it('new settings apply at once while closed, and only once it has closed when open', async () => {
    breaker.configure({ ...settings, volumeThreshold: 2 });
    await sendAll(down, down);
    expect(breaker.state).toBe('OPEN');
    breaker.configure({ ...settings, volumeThreshold: 2, resetTimeoutMs: 1_000 });
    jest.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('OPEN'); // still the reset timeout it opened with
    jest.advanceTimersByTime(29_000);
    expect(breaker.state).toBe('HALF_OPEN');
    await send(ok);
    await sendAll(down, down);
    jest.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('HALF_OPEN'); // the new reset timeout
  });

  it('a channel that does not fail keeps no window; one that failed drops it after a whole window without failures', async () => {
    await sendAll(ok, ok, ok);
    expect(breaker.tracking).toBe(false);
    await send(down);
    expect(breaker.tracking).toBe(true);
    jest.advanceTimersByTime(10_000);
    await send(ok);
    expect(breaker.tracking).toBe(false);
    expect(breaker.state).toBe('CLOSED');
  });

  it('failures of requests that were already out when the window started count too', async () => {
    const answers: Array<(a: Answer) => void> = [];
    const inFlight = Array.from({ length: 4 }, () => breaker.run(() => new Promise<Answer>((r) => answers.push(r)), counts, describeAnswer));
    for (const answer of answers) answer(down);
    await Promise.all(inFlight);
    expect(breaker.state).toBe('OPEN');
  });

  it('thousands of breakers share the one clock: no timer of their own while closed', async () => {
    const before = jest.getTimerCount();
    const many = Array.from({ length: 2_000 }, (_, i) => new ChannelBreaker(`ch_${i}`, settings, clock, () => undefined));
    for (const b of many) await b.run(async () => down, counts, describeAnswer); // each keeps a window now
    expect(many.every((b) => b.tracking)).toBe(true);
    expect(jest.getTimerCount()).toBe(before);
    for (const b of many) b.dispose();
  });
});
