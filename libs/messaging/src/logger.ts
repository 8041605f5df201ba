/** The slice of a pino logger the messaging layer needs, so it stays free of any framework. */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const ignore = (): void => undefined;
export const silentLog: Log = { debug: ignore, info: ignore, warn: ignore, error: ignore };
