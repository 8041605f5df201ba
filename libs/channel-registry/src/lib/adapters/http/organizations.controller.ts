import { Body, Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { displayName } from '@waybill/contracts';
import { AdminKeyGuard, ApiDoc, ApiKeyGuard, ApiTag, CurrentPrincipal, Principal, validate } from '@waybill/platform';
import { RegistryService } from '../../application/registry.service';
import { OrganizationCreated, OrganizationResponse } from './registry.schemas';

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

/** The caller's own organisation (with an API key): what a console shows in its header. */
@ApiTag('Organisations and keys')
@Controller('v1/organization')
@UseGuards(ApiKeyGuard)
export class OrganizationController {
  constructor(private readonly registry: RegistryService) {}

  @Get()
  @ApiDoc({
    summary: 'The caller’s organisation',
    description: 'The organisation of the API key, and that key’s id and prefix.',
    responses: { 200: { description: 'The organisation.', schema: OrganizationResponse } },
  })
  get(@CurrentPrincipal() principal: Principal) {
    return this.registry.organization(principal.orgId, principal.apiKeyId);
  }
}
