import pino, { Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';

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

/** Structured JSON logs on stdout, one object a line. */
export function createLogger(service: string, level = 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
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
