import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { createTestDatabase, freePort, killUnfinishedRuns, newDataDir, runWaybillToExit } from '@waybill/testing';

/**
 * What an operator sees when Waybill cannot start: the process ends by itself, quickly, with a
 * non-zero code and one line on stderr that names what is wrong. A process that hangs or retries
 * forever fails its test's timeout (30 s), which is the only bound on "quickly" here.
 */

/** A 127.0.0.1 port that nothing listens on: bound, then released, so connecting is refused. */
async function closedPort(): Promise<number> {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.once('connect', () => reject(new Error(`port ${port} is open`)));
    probe.once('error', () => resolve());
  });
  return port;
}

describe('start-up failures: the process exits non-zero with a clear message', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await newDataDir('waybill-e2e-fail-');
  });

  afterAll(async () => {
    await killUnfinishedRuns();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('npm start with DATABASE_URL on a closed port: exits 1 and names PostgreSQL', async () => {
    const port = await closedPort();
    const run = await runWaybillToExit(
      'standalone',
      {
        DATABASE_URL: `postgres://waybill:waybill@127.0.0.1:${port}/waybill`,
        KAFKA_BROKERS: undefined,
        WAYBILL_DATA_DIR: dataDir,
        PORT: String(await freePort()),
      },
      28_000,
    );
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
    expect(run.stderr).toMatch(/^standalone could not start: .*PostgreSQL/m);
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
    expect(run.stderr).toContain('DATABASE_URL');
    expect(run.stderr).not.toMatch(/^\s+at /m); // a message, not a stack trace
  }, 30_000);

  it('a service with KAFKA_BROKERS on a closed port: exits 1 and names Kafka, not PostgreSQL', async () => {
    const port = await closedPort();
    const run = await runWaybillToExit(
      'relationship-routing',
      {
        KAFKA_BROKERS: `127.0.0.1:${port}`,
        DATABASE_URL: await createTestDatabase(), // a reachable database: Kafka is the only thing wrong
        WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
        PORT: String(await freePort()),
      },
      28_000,
    );
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
    const message = run.stderr.split('\n').find((l) => l.startsWith('relationship-routing could not start:'));
    expect(message).toBeDefined();
    expect(message).toContain('Kafka');
    expect(message).toContain(`127.0.0.1:${port}`);
    // PostgreSQL is fine: the message must not send the operator to check it.
    expect(message).not.toMatch(/PostgreSQL|DATABASE_URL/);
  }, 30_000);

  it('a service without KAFKA_BROKERS: exits 1 and says KAFKA_BROKERS is required', async () => {
    const run = await runWaybillToExit(
      'relationship-routing',
      {
        KAFKA_BROKERS: undefined,
        DATABASE_URL: await createTestDatabase(),
        WAYBILL_SECRET_KEY: randomBytes(32).toString('base64'),
        PORT: String(await freePort()),
      },
      28_000,
    );
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
    expect(run.stderr).toMatch(/^relationship-routing could not start: .*KAFKA_BROKERS is required/m);
  }, 30_000);
});
