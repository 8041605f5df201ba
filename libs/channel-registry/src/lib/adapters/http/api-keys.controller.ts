import { Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, OrgId } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';

@Controller('v1/api-keys')
@UseGuards(ApiKeyGuard)
export class ApiKeysController {
  constructor(private readonly registry: RegistryService) {}

  @Get()
  list(@OrgId() orgId: string) {
    return this.registry.listApiKeys(orgId);
  }

  @Post()
  @HttpCode(201)
  issue(@OrgId() orgId: string) {
    return this.registry.issueApiKey(orgId);
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@OrgId() orgId: string, @Param('id') id: string): Promise<void> {
    await this.registry.revokeApiKey(orgId, id);
  }
}
