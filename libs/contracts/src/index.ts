export * from './topics';
export * from './envelope';
export * from './catalogue';
export * from './events/access.events';
export * from './events/channel.events';
export * from './events/relationship.events';
export * from './events/transaction.events';
export * from './events/alert.events';
