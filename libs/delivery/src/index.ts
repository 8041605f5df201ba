export * from './outcome';
export * from './decider';
export * from './transaction-status';
export * from './retry-policy';
export * from './admission';
