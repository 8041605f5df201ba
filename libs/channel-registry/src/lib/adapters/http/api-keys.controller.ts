import { Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiDoc, ApiKeyGuard, ApiTag, ListQuery, OrgId, pageSchema, validate } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';
import { ApiKeyIssued, ApiKeyResponse } from './registry.schemas';

@ApiTag('Organisations and keys')
@Controller('v1/api-keys')
@UseGuards(ApiKeyGuard)
export class ApiKeysController {
  constructor(private readonly registry: RegistryService) {}

  @Get()
  @ApiDoc({
    summary: 'List the organisation’s API keys',
    description: 'Keys that still work, newest first. A key itself is never shown again.',
    query: ListQuery,
    responses: { 200: { description: 'A page of keys.', schema: pageSchema(ApiKeyResponse) } },
  })
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const { limit, cursor } = validate(ListQuery, query, 'query');
    return this.registry.listApiKeys(orgId, limit, cursor);
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({
    summary: 'Issue another API key',
    description: 'The key works at once, on every service.',
    responses: { 201: { description: 'The new key, shown once.', schema: ApiKeyIssued } },
  })
  issue(@OrgId() orgId: string) {
    return this.registry.issueApiKey(orgId);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiDoc({
    summary: 'Revoke an API key',
    description: 'The key stops working everywhere within a second. Revoking the key of the call itself is allowed.',
    params: { id: 'The key’s id (`key_…`).' },
    responses: { 204: { description: 'Revoked.' } },
  })
  async revoke(@OrgId() orgId: string, @Param('id') id: string): Promise<void> {
    await this.registry.revokeApiKey(orgId, id);
  }
}
