import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ApiKeyGuard, ListQuery, OrgId, validate } from '@waybill/platform';
import { RoutingService } from '../../application/routing.service';
import { CreateRelationshipInput } from '../../domain/transaction.input';

const ListRelationships = ListQuery.extend({ channelId: z.string().min(1).max(200).optional() });

@Controller('v1/relationships')
@UseGuards(ApiKeyGuard)
export class RelationshipsController {
  constructor(private readonly routing: RoutingService) {}

  @Post()
  @HttpCode(201)
  create(@OrgId() orgId: string, @Body() body: unknown) {
    return this.routing.createRelationship(orgId, validate(CreateRelationshipInput, body));
  }

  @Get()
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const q = validate(ListRelationships, query, 'query');
    return this.routing.listRelationships(orgId, q.limit, q.cursor, q.channelId);
  }

  @Get(':id')
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.routing.getRelationship(orgId, id);
  }
}
