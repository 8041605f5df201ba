import { Body, Controller, Get, Put, UseGuards } from '@nestjs/common';
import { ApiDoc, ApiKeyGuard, ApiTag, OrgId, validate } from '@waybill/platform';
import { SettingsService } from '../../application/settings.service';
import { SetChannelSetting, SettingsResponse } from './registry.schemas';

@ApiTag('Settings', 'The organisation’s default inbound channel and alert channel.')
@Controller('v1/settings')
@UseGuards(ApiKeyGuard)
export class SettingsController {
  constructor(private readonly settings: SettingsService) {}

  @Get()
  @ApiDoc({ summary: 'Get the settings', responses: { 200: { description: 'The settings.', schema: SettingsResponse } } })
  get(@OrgId() orgId: string) {
    return this.settings.get(orgId);
  }

  @Put('default-inbound-channel')
  @ApiDoc({
    summary: 'Set the default inbound channel',
    description:
      'A relationship created without a channel gets this one (`channelSource: DEFAULT`) as it is at that moment; changing ' +
      'the default later moves no existing relationship. `null` clears it.',
    body: SetChannelSetting,
    responses: { 200: { description: 'The settings.', schema: SettingsResponse } },
    problems: [404],
  })
  setDefaultInbound(@OrgId() orgId: string, @Body() body: unknown) {
    return this.settings.set(orgId, 'defaultInboundChannelId', validate(SetChannelSetting, body).channelId);
  }

  @Put('alert-channel')
  @ApiDoc({
    summary: 'Set the alert channel',
    description: 'Where alerts (`channel.circuit-opened`, `channel.circuit-closed`, `delivery.exhausted`) are delivered. `null` clears it.',
    body: SetChannelSetting,
    responses: { 200: { description: 'The settings.', schema: SettingsResponse } },
    problems: [404],
  })
  setAlert(@OrgId() orgId: string, @Body() body: unknown) {
    return this.settings.set(orgId, 'alertChannelId', validate(SetChannelSetting, body).channelId);
  }
}
