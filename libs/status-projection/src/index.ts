export { StatusProjectionModule } from './lib/status-projection.module';
