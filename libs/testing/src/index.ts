export * from './env/servers';
export * from './env/test-env';
export * from './http/receiver';
export * from './http/api-client';
export * from './e2e/process';
export * from './e2e/skeleton';
export * from './decider/specification';
