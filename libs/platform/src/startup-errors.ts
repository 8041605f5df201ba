/** A dependency that could not be reached at start: its message says which, and what to check. */
export class UnreachableError extends Error {}

export function postgresUnreachable(url: string, err: Error): UnreachableError {
  let where = 'the configured database';
  try {
    const u = new URL(url);
    where = `${u.hostname}:${u.port || 5432}${u.pathname}`; // never the password
  } catch {
    // keep the generic wording
  }
  return new UnreachableError(`PostgreSQL is not reachable at ${where} (${err.message}). Check DATABASE_URL.`);
}
