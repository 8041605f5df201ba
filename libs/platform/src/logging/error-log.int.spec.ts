import { Writable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { openServiceDataSource } from '@waybill/persistence';
import { createTestDatabase } from '@waybill/testing';
import { createLogger } from './logger';

/** Every line the logger wrote, and everything written to the console meanwhile. */
function capture(): { lines: string[]; logger: ReturnType<typeof createLogger>; console: string[]; restore(): void } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const consoleLines: string[] = [];
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
    jest.spyOn(console, m).mockImplementation((...args: unknown[]) => void consoleLines.push(args.map(String).join(' '))),
  );
  return {
    lines,
    logger: createLogger('test', 'debug', sink),
    console: consoleLines,
    restore: () => spies.forEach((s) => s.mockRestore()),
  };
}

describe('error logs never carry SQL parameters or rows', () => {
  let ds: DataSource;
  const SECRET = 'sk_live_4f9c2b7e1d3a5f6c8e0b9a7d';

  beforeAll(async () => {
    ds = await openServiceDataSource({ url: await createTestDatabase(), schema: 'logs' });
    await ds.query('CREATE TABLE payloads (id text PRIMARY KEY, payload text NOT NULL, n int NOT NULL)');
    await ds.query(`INSERT INTO payloads VALUES ('p1', $1, 1)`, [SECRET]);
  });
  afterAll(async () => {
    await ds?.destroy();
  });

  const failures: Array<[string, string, unknown[]]> = [
    // PostgreSQL quotes the failing row in `detail`.
    ['a not-null violation', `INSERT INTO payloads (id, payload, n)\n VALUES ($1, $2, NULL)`, ['p2', SECRET]],
    // … and the duplicate key's value.
    ['a duplicate key', `INSERT INTO payloads (id, payload, n) VALUES ($1, $2, 2)`, ['p1', SECRET]],
    // … and the value that is not of the column's type, in the message itself.
    ['a bad value', `SELECT * FROM payloads WHERE n = $1`, [SECRET]],
  ];

  it.each(failures)('%s is logged with the statement and the error, not the parameter', async (_name, sql, params) => {
    const { lines, logger, console: consoleLines, restore } = capture();
    try {
      const err = await ds.query(sql, params).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      logger.error({ err }, 'unhandled error');
      logger.error(err as Error);
      logger.warn({ error: err }, 'failed');
      logger.flush();
    } finally {
      restore();
    }
    const written = [...lines, ...consoleLines].join('\n');
    expect(lines).toHaveLength(3);
    expect(written).not.toContain(SECRET);
    expect(written).not.toContain(SECRET.slice(0, 12));
    const first = JSON.parse(lines[0]) as { err: { statement: string; message: string; sqlState: string } };
    expect(first.err.statement).toBe(sql.split('\n')[0].trim());
    expect(first.err.sqlState).toMatch(/^[0-9A-Z]{5}$/);
    expect(first.err.message.length).toBeGreaterThan(0);
  });
});
