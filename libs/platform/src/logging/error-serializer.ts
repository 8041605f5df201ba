/**
 * How an error is written in a log line: what happened and where, never the data it was about.
 *
 * TypeORM's `QueryFailedError` carries the whole statement and its `parameters` (transaction
 * payloads, channel rows); PostgreSQL's errors carry a `detail` ("Failing row contains (…)", "Key
 * (id)=(…) already exists"), a `where` and sometimes an `internalQuery`; and pino's default
 * serializer writes every enumerable property. This keeps a fixed list of fields: the error's
 * type, message, code and stack, the statement's first line (its "name"), PostgreSQL's SQL state
 * and the names of the constraint, table and column — and the same for its `cause`.
 */

/** What a logged error becomes. */
export interface LoggedError {
  type: string;
  message: string;
  stack?: string;
  code?: string;
  /** The first line of the failed statement, at most {@link STATEMENT_CHARS} characters. */
  statement?: string;
  /** PostgreSQL's SQL state (`23505`, `22P02`, …). */
  sqlState?: string;
  constraint?: string;
  table?: string;
  column?: string;
  schema?: string;
  cause?: LoggedError | string;
  /** The members of an `AggregateError`. */
  errors?: Array<LoggedError | string>;
}

/** Enough to recognise a statement; a multi-line statement's first line names it. */
const STATEMENT_CHARS = 160;
/** Causes followed; a cycle or a deep chain stops here. */
const MAX_DEPTH = 4;

interface DatabaseErrorLike {
  query?: unknown;
  code?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
  schema?: unknown;
  driverError?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** pino serializer for `err` (and `error`): see the file comment. */
export function serializeError(value: unknown): unknown {
  return value instanceof Error ? describe(value, 0) : value;
}

function describe(error: Error, depth: number): LoggedError {
  const e = error as Error & DatabaseErrorLike;
  // QueryFailedError keeps PostgreSQL's own error as `driverError`; its fields are the ones wanted.
  const db = (isObject(e.driverError) ? e.driverError : e) as DatabaseErrorLike;
  const sqlState = isSqlState(db.code) ? db.code : undefined;
  const out: LoggedError = {
    type: error.constructor?.name ?? error.name,
    message: sqlState ? withoutValues(error.message, sqlState) : error.message,
  };
  if (error.stack) out.stack = sqlState ? withoutValues(error.stack, sqlState) : error.stack;
  if (typeof e.code === 'string' && !isSqlState(e.code)) out.code = e.code;
  if (typeof e.query === 'string') out.statement = firstLine(e.query);
  if (sqlState) out.sqlState = sqlState;
  for (const field of ['constraint', 'table', 'column', 'schema'] as const) {
    const v = db[field];
    if (typeof v === 'string') out[field] = v;
  }
  if (depth < MAX_DEPTH) {
    if (e.cause instanceof Error) out.cause = describe(e.cause, depth + 1);
    else if (typeof e.cause === 'string') out.cause = e.cause;
    if (Array.isArray(e.errors)) {
      out.errors = e.errors.slice(0, 10).map((m: unknown) => (m instanceof Error ? describe(m, depth + 1) : String(m)));
    }
  }
  return out;
}

function firstLine(sql: string): string {
  const line = sql.trim().split('\n', 1)[0]?.trim() ?? '';
  return line.length > STATEMENT_CHARS ? `${line.slice(0, STATEMENT_CHARS)}…` : line;
}

function isSqlState(code: unknown): code is string {
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * PostgreSQL names the offending value in the message of a data exception (class 22: `invalid input
 * syntax for type uuid: "…"`); identifiers in other classes' messages are names, not data.
 */
function withoutValues(message: string, sqlState: string): string {
  if (!sqlState.startsWith('22')) return message;
  return message.replace(/"(?:[^"]|"")*"/g, '"[redacted]"');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
