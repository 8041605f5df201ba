/**
 * Whether an error says that a store Waybill needs — PostgreSQL, the Kafka broker — could not be
 * reached or is restarting, rather than that something is wrong with the request or the code: the
 * caller may try again shortly and succeed. Pure: it looks at the error's codes, names and causes.
 */
export function isUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const e = error as { code?: unknown; name?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; originalError?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  // PostgreSQL: connection exceptions (class 08), shutting down or starting up (57P01–57P03).
  if (/^08[0-9A-Z]{3}$/.test(code) || code === '57P01' || code === '57P02' || code === '57P03') return true;
  // A socket that could not connect or was cut.
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTCONN'].includes(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (/^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message)) return true;
  // TypeORM: a connection cut mid-transaction is released, and the transaction's next statement refused.
  if (e.name === 'QueryRunnerProviderAlreadyReleasedError') return true;
  // kafkajs: the broker could not be reached (a connection error, or retries spent on one).
  if (typeof e.name === 'string' && /^KafkaJS(Connection|ConnectionClosed|RequestTimeout|BrokerNotFound)Error$/.test(e.name)) return true;
  return [e.driverError, e.cause, e.originalError].some((inner) => inner !== error && isUnavailable(inner, depth + 1));
}
