import pino, { DestinationStream, Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';
import { serializeError } from './error-serializer';

/** Paths never written in clear, wherever they appear in a log line. */
const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'token',
  '*.token',
  'clientSecret',
  '*.clientSecret',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
];

/**
 * Structured JSON logs on stdout (or `destination`), one object a line. Errors under `err` or
 * `error` are written by {@link serializeError}: a failed statement's first line and the error,
 * never its parameters or the rows PostgreSQL quotes back.
 */
export function createLogger(service: string, level = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
    // pino takes the message of an error logged alone (`log.error(err)`) as the line's message,
    // beside the serializer: give it the serialized, cleaned one.
    hooks: { logMethod: cleanErrorMessage },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

function cleanErrorMessage(this: Logger, args: Parameters<Logger['info']>, method: (...a: unknown[]) => void): void {
  const [first, ...rest] = args as unknown[];
  const err = first instanceof Error ? first : isObject(first) && first['err'] instanceof Error ? first['err'] : undefined;
  if (err === undefined || typeof rest[0] === 'string') return method.apply(this, args);
  const message = (serializeError(err) as { message: string }).message;
  return method.apply(this, [first instanceof Error ? { err } : first, message, ...rest]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Nest's own messages, through the same logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  /** Nest's own chatter (modules loaded, routes mapped) is debug; what it reports as errors is not. */
  log(message: unknown, context?: string): void {
    this.pino.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.pino.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.pino.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.pino.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.pino.trace({ context }, String(message));
  }
}
