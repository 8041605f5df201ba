import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { identifier } from '@waybill/contracts';
import { ApiDoc, ApiKeyGuard, ApiTag, ListQuery, OrgId, pageSchema, validate } from '@waybill/platform';
import { RelationshipsService } from '../../application/relationships.service';
import { CreateRelationshipInput, UpdateRelationshipInput } from '../../domain/transaction.input';
import { RelationshipResponse } from './routing.schemas';

const ListRelationships = ListQuery.extend({ channelId: identifier().optional().describe('Only the relationships served by this channel.') }).strict();
const ID = { id: 'The relationship’s id (`rel_…`).' };

@ApiTag('Relationships', 'Sender → receiver, transaction type: which channel serves it.')
@Controller('v1/relationships')
@UseGuards(ApiKeyGuard)
export class RelationshipsController {
  constructor(private readonly relationships: RelationshipsService) {}

  @Post()
  @HttpCode(201)
  @ApiDoc({
    summary: 'Create a relationship',
    description:
      'Without `channelId` it gets the organisation’s default inbound channel as it is at that moment (`channelSource: DEFAULT`). ' +
      '(senderId, receiverId, transactionType) is unique in an organisation: a second one is 409. ' +
      'A channel whose delete is being decided is 409 `CHANNEL_BEING_DELETED`.',
    body: CreateRelationshipInput,
    responses: { 201: { description: 'The relationship.', schema: RelationshipResponse } },
    problems: [404, 409],
  })
  create(@OrgId() orgId: string, @Body() body: unknown) {
    return this.relationships.create(orgId, validate(CreateRelationshipInput, body));
  }

  @Get()
  @ApiDoc({
    summary: 'List relationships',
    description: 'Newest first; `channelId` keeps those served by one channel.',
    query: ListRelationships,
    responses: { 200: { description: 'A page of relationships.', schema: pageSchema(RelationshipResponse) } },
  })
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const q = validate(ListRelationships, query, 'query');
    return this.relationships.list(orgId, q.limit, q.cursor, q.channelId);
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a relationship', params: ID, responses: { 200: { description: 'The relationship.', schema: RelationshipResponse } } })
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.relationships.get(orgId, id);
  }

  @Patch(':id')
  @ApiDoc({
    summary: 'Assign, override or unassign the channel',
    description:
      '`channelId` assigns or overrides (`channelSource: EXPLICIT`); `null` unassigns (sending then answers 422). ' +
      'A channel whose delete is being decided is 409 `CHANNEL_BEING_DELETED`.',
    params: ID,
    body: UpdateRelationshipInput,
    responses: { 200: { description: 'The relationship as changed.', schema: RelationshipResponse } },
    problems: [409],
  })
  update(@OrgId() orgId: string, @Param('id') id: string, @Body() body: unknown) {
    return this.relationships.update(orgId, id, validate(UpdateRelationshipInput, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiDoc({ summary: 'Delete a relationship', params: ID, responses: { 204: { description: 'Deleted.' } } })
  async delete(@OrgId() orgId: string, @Param('id') id: string): Promise<void> {
    await this.relationships.delete(orgId, id);
  }
}
