import { Module } from '@nestjs/common';
import { serviceDatabase } from '@waybill/platform';
import { REGISTRY_DB } from './adapters/db/tokens';
import { REGISTRY_MIGRATIONS } from './adapters/db/registry.migrations';
import { RegistryService, SCHEMA } from './application/registry.service';
import { OrganizationsController } from './adapters/http/organizations.controller';
import { ApiKeysController } from './adapters/http/api-keys.controller';
import { ChannelsController } from './adapters/http/channels.controller';

/** The channel registry: organisations, API keys, channels and settings. */
@Module({
  controllers: [OrganizationsController, ApiKeysController, ChannelsController],
  providers: [serviceDatabase(REGISTRY_DB, { schema: SCHEMA, migrations: REGISTRY_MIGRATIONS }), RegistryService],
  exports: [RegistryService],
})
export class ChannelRegistryModule {}
