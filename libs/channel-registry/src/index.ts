export { ChannelRegistryModule } from './lib/channel-registry.module';
export { RegistryService } from './lib/application/registry.service';
/** The shapes of the registry's answers (what `/openapi.json` documents), for clients and tests. */
export * as RegistryAnswers from './lib/adapters/http/registry.schemas';
/** The registry's request schemas (what `/openapi.json` documents as request bodies). */
export * as RegistryInputs from './lib/adapters/http/registry.inputs';
