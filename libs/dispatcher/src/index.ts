export { DispatcherModule } from './lib/dispatcher.module';
export { DEFAULT_DISPATCHER_OPTIONS } from './lib/dispatcher.options';
export type { DispatcherOptions } from './lib/dispatcher.options';
