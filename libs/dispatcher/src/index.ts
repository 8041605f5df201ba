export { DispatcherModule } from './lib/dispatcher.module';
