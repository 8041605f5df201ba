import { isUnavailable } from './unavailable';

describe('isUnavailable: a store that cannot be reached, not a bad request or a bug', () => {
  it.each([
    ['PostgreSQL shutting down', { code: '57P01', message: 'terminating connection due to administrator command' }],
    ['PostgreSQL starting up', { code: '57P03', message: 'the database system is starting up' }],
    ['a connection exception', { code: '08006', message: 'connection failure' }],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['pg cut mid-query', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
    ['TypeORM wrapping the driver error', { name: 'QueryFailedError', message: 'x', driverError: { code: '57P01' } }],
    ['a transaction whose connection was cut', Object.assign(new Error('Database connection provided by a query runner was already released'), { name: 'QueryRunnerProviderAlreadyReleasedError' })],
    ['kafkajs without a broker', Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError' })],
    ['retries spent on a connection error', Object.assign(new Error('x'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: Object.assign(new Error('y'), { name: 'KafkaJSConnectionError' }) })],
  ])('%s: yes', (_, error) => expect(isUnavailable(error)).toBe(true));

  it.each([
    ['a unique violation', { code: '23505', message: 'duplicate key' }],
    ['a syntax error', { code: '42601', message: 'syntax error' }],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['nothing', undefined],
    ['a string', 'ECONNREFUSED'],
  ])('%s: no', (_, error) => expect(isUnavailable(error)).toBe(false));

  it('an error that is its own cause does not loop', () => {
    const e: { cause?: unknown } = {};
    e.cause = e;
    expect(isUnavailable(e)).toBe(false);
  });
});
