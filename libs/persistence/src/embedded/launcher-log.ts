/** Severity carried in `fields.level` of every message the launcher emits. */
export type LauncherLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The caller's sink: a message plus structured fields (always including `level`). */
export type LogSink = (msg: string, fields?: Record<string, unknown>) => void;

/** Levelled view over a {@link LogSink}; a missing sink discards everything. */
export interface LauncherLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const COMPONENT = 'embedded-postgres';

export function createLauncherLog(sink: LogSink | undefined): LauncherLog {
  const emit =
    (level: LauncherLogLevel) =>
    (msg: string, fields?: Record<string, unknown>): void => {
      // A throwing log sink must not take the database down with it.
      try {
        sink?.(msg, { component: COMPONENT, ...fields, level });
      } catch {
        /* ignored on purpose */
      }
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** Lines kept from PostgreSQL's own output to explain a failed start. */
const TAIL_LINES = 40;

/**
 * Receives the `embedded-postgres` package's `onLog`/`onError` callbacks. Server
 * and initdb chatter goes to the caller at debug level so the launcher is quiet
 * by default; only PANIC lines and the package's own errors are passed up as
 * errors. The last lines are kept to put into a start-up failure's message.
 */
export class ServerOutput {
  private readonly recent: string[] = [];

  constructor(private readonly log: LauncherLog) {}

  readonly onLog = (chunk: string): void => {
    for (const raw of chunk.split(/\r?\n/)) {
      // The package prefixes initdb's stderr; the text after it is what matters.
      const line = raw.replace(/^\[STDERR\]\s*/, '').trimEnd();
      if (line.length === 0) continue;
      this.remember(line);
      if (/\bPANIC:/.test(line)) this.log.error(line, { source: 'postgres' });
      else this.log.debug(line, { source: 'postgres' });
    }
  };

  readonly onError = (messageOrError: unknown): void => {
    const text = messageOrError instanceof Error ? messageOrError.message : String(messageOrError);
    this.remember(text);
    this.log.error(text, { source: COMPONENT, err: messageOrError });
  };

  /** True when any remembered line contains `needle`. */
  mentions(needle: string): boolean {
    return this.recent.some((line) => line.includes(needle));
  }

  /** Remembered lines, oldest first, for an error message. */
  tail(): string {
    return this.recent.join('\n');
  }

  /** Forgets earlier lines, e.g. before retrying a start on another port. */
  clear(): void {
    this.recent.length = 0;
  }

  private remember(line: string): void {
    this.recent.push(line);
    if (this.recent.length > TAIL_LINES) this.recent.shift();
  }
}
