import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { AdminKeyGuard, validate } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';

const CreateOrganization = z.object({ name: z.string().trim().min(1).max(200) }).strict();

@Controller('v1/organizations')
@UseGuards(AdminKeyGuard)
export class OrganizationsController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown) {
    return this.registry.createOrganization(validate(CreateOrganization, body).name);
  }
}
