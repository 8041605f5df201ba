import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { displayName } from '@waybill/contracts';
import { AdminKeyGuard, ApiDoc, ApiTag, validate } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';
import { OrganizationCreated } from './registry.schemas';

export const CreateOrganization = z.object({ name: displayName(200) }).strict();

@ApiTag('Organisations and keys', 'Organisations (with the deployment’s admin key) and their API keys.')
@Controller('v1/organizations')
@UseGuards(AdminKeyGuard)
export class OrganizationsController {
  constructor(private readonly registry: RegistryService) {}

  @Post()
  @HttpCode(201)
  @ApiDoc({
    summary: 'Create an organisation',
    description: 'Takes the deployment’s admin key (`WAYBILL_ADMIN_KEY`); without one configured, this answers 404.',
    body: CreateOrganization,
    responses: { 201: { description: 'The organisation and its first API key, shown once.', schema: OrganizationCreated } },
  })
  create(@Body() body: unknown) {
    return this.registry.createOrganization(validate(CreateOrganization, body).name);
  }
}
