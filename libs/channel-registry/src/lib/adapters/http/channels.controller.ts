import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiDoc, ApiKeyGuard, ApiTag, BodyLimit, ListQuery, OrgId, pageSchema, validate } from '@waybill/platform';
import { ChannelsService } from '../../application/channels.service';
import { CreateChannelInput, MAX_CHANNEL_BODY_BYTES, UpdateChannelInput } from '../../domain/channel.input';
import { ChannelResponse, SigningSecretResponse, SigningSecretRotated } from './registry.schemas';

const ID = { id: 'The channel’s id (`ch_…`).' };

@ApiTag('Channels', 'Where transactions are delivered: an HTTP endpoint (push) or a queue the partner pulls from.')
@Controller('v1/channels')
@UseGuards(ApiKeyGuard)
export class ChannelsController {
  constructor(private readonly channels: ChannelsService) {}

  @Post()
  @HttpCode(201)
  @BodyLimit(MAX_CHANNEL_BODY_BYTES)
  @ApiDoc({
    summary: 'Create a channel',
    description:
      'Every omitted field takes its default; the answer shows the effective values. Credentials are encrypted and never ' +
      'shown again; with signing on, the answer carries the signing secret (`signing.secret`). `secretHeaders` are headers whose ' +
      'values are secrets (a partner’s API key): sent like `headers`, encrypted, and shown only by name. URLs must be http(s) without ' +
      'credentials (https only in production) and, unless the deployment allows private targets, resolve to public addresses only.',
    body: CreateChannelInput,
    responses: { 201: { description: 'The channel (secrets left out, but for a new signing secret).', schema: ChannelResponse } },
  })
  create(@OrgId() orgId: string, @Body() body: unknown) {
    return this.channels.create(orgId, validate(CreateChannelInput, body));
  }

  @Get()
  @ApiDoc({
    summary: 'List channels',
    description: 'Newest first.',
    query: ListQuery,
    responses: { 200: { description: 'A page of channels.', schema: pageSchema(ChannelResponse) } },
  })
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const { limit, cursor } = validate(ListQuery, query, 'query');
    return this.channels.list(orgId, limit, cursor);
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a channel', params: ID, responses: { 200: { description: 'The channel.', schema: ChannelResponse } } })
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.channels.get(orgId, id);
  }

  @Patch(':id')
  @BodyLimit(MAX_CHANNEL_BODY_BYTES)
  @ApiDoc({
    summary: 'Change a channel',
    description:
      'Changes the fields given. `retryPolicy` (same strategy), `circuitBreaker`, `batch` and `auth` (same type) are merged ' +
      'into the current values, so a credential may be left out to keep it; `headers` replaces all static headers and ' +
      '`secretHeaders` all secret ones; `batch: null` turns batching off. Credentials stay with the destination they were given ' +
      'for: a `url` of another origin needs `auth` (with its credential) and `secretHeaders` in the same request, and a new OAuth2 ' +
      '`tokenUrl` its `clientSecret` — else 422 `CREDENTIALS_REQUIRED` naming them. The change applies to every attempt made ' +
      'after it, retries of earlier transactions included.',
    params: ID,
    body: UpdateChannelInput,
    responses: { 200: { description: 'The channel as changed.', schema: ChannelResponse } },
    problems: [422],
  })
  update(@OrgId() orgId: string, @Param('id') id: string, @Body() body: unknown) {
    return this.channels.update(orgId, id, validate(UpdateChannelInput, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiDoc({
    summary: 'Delete a channel',
    description:
      '409 `CHANNEL_IN_USE` while a relationship uses it, or while it is the default inbound or the alert channel. ' +
      'Never succeeds together with a relationship created on the channel at the same moment; 503 when routing could not say in time whether relationships use it (nothing deleted).',
    params: ID,
    responses: { 204: { description: 'Deleted.' } },
    problems: [409, 503],
  })
  async delete(@OrgId() orgId: string, @Param('id') id: string): Promise<void> {
    await this.channels.delete(orgId, id);
  }

  @Get(':id/signing-secret')
  @ApiDoc({
    summary: 'Get the signing secret',
    description: 'The secret the partner verifies `webhook-signature` with (Standard Webhooks). 409 while signing is off.',
    params: ID,
    responses: { 200: { description: 'The current secret.', schema: SigningSecretResponse } },
    problems: [409],
  })
  signingSecret(@OrgId() orgId: string, @Param('id') id: string) {
    return this.channels.signingSecret(orgId, id);
  }

  @Post(':id/signing-secret/rotate')
  @HttpCode(200)
  @ApiDoc({
    summary: 'Rotate the signing secret',
    description:
      'Issues a new secret. For 24 h deliveries are signed by both, the `webhook-signature` header carrying both signatures, ' +
      'so the partner can switch over in its own time.',
    params: ID,
    responses: { 200: { description: 'The new secret.', schema: SigningSecretRotated } },
    problems: [409],
  })
  rotate(@OrgId() orgId: string, @Param('id') id: string) {
    return this.channels.rotateSigningSecret(orgId, id);
  }
}
