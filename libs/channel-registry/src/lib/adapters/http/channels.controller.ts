import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, ListQuery, OrgId, validate } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';
import { CreateChannelInput } from '../../domain/channel.input';

@Controller('v1/channels')
@UseGuards(ApiKeyGuard)
export class ChannelsController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @HttpCode(201)
  create(@OrgId() orgId: string, @Body() body: unknown) {
    return this.registry.createChannel(orgId, validate(CreateChannelInput, body));
  }

  @Get()
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const { limit, cursor } = validate(ListQuery, query, 'query');
    return this.registry.listChannels(orgId, limit, cursor);
  }

  @Get(':id')
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.registry.getChannel(orgId, id);
  }
}
