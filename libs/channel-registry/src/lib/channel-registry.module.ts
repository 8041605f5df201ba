import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { serviceDatabase } from '@waybill/platform';
import { REGISTRY_MIGRATIONS } from './adapters/db/registry.migrations';
import { REGISTRY_DB, REGISTRY_SCHEMA } from './application/registry.database';
import { RegistryService } from './application/registry.service';
import { ApiKeyUsage } from './application/api-key-usage';
import { ChannelsService } from './application/channels.service';
import { SettingsService } from './application/settings.service';
import { RelationshipUsage } from './application/relationship-usage';
import { Destinations } from './application/destinations';
import { OrganizationController, OrganizationsController } from './adapters/http/organizations.controller';
import { ApiKeysController } from './adapters/http/api-keys.controller';
import { ChannelsController } from './adapters/http/channels.controller';
import { SettingsController } from './adapters/http/settings.controller';
import { ApiKeyUsageInterceptor } from './adapters/http/api-key-usage.interceptor';
import { RegistryEventsController } from './adapters/events/registry-events.controller';

/** The channel registry: organisations, API keys, channels and settings. */
@Module({
  controllers: [OrganizationsController, OrganizationController, ApiKeysController, ChannelsController, SettingsController, RegistryEventsController],
  providers: [
    serviceDatabase(REGISTRY_DB, { schema: REGISTRY_SCHEMA, migrations: REGISTRY_MIGRATIONS }),
    ApiKeyUsage,
    RegistryService,
    Destinations,
    RelationshipUsage,
    ChannelsService,
    SettingsService,
    { provide: APP_INTERCEPTOR, useClass: ApiKeyUsageInterceptor },
  ],
  exports: [RegistryService],
})
export class ChannelRegistryModule {}
