export { ChannelRegistryModule } from './lib/channel-registry.module';
export { RegistryService } from './lib/application/registry.service';
