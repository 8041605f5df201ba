import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { identifier } from '@waybill/contracts';
import { ApiDoc, ApiKeyGuard, ApiTag, ListQuery, OrgId, pageSchema, validate } from '@waybill/platform';
import { ALERT_TYPES, AlertsQuery } from '../../application/alerts/alerts.query';

const ListAlerts = ListQuery.extend({
  channelId: identifier().optional(),
  type: z.enum(ALERT_TYPES).optional(),
}).strict();

const Alert = z
  .object({ id: z.string(), type: z.enum(ALERT_TYPES), channelId: z.string(), at: z.string() })
  .catchall(z.unknown())
  .describe('`channel.circuit-opened` adds `reason`; `delivery.exhausted` adds `transactionId`, `deliveryId`, `attempts`, `lastError`.');

@ApiTag('Alerts')
@Controller('v1/alerts')
@UseGuards(ApiKeyGuard)
export class AlertsController {
  constructor(private readonly alerts: AlertsQuery) {}

  @ApiDoc({
    summary: 'List alerts',
    description: 'Circuits opened and closed, deliveries exhausted: newest first.',
    query: ListAlerts,
    responses: { 200: { description: 'A page of alerts.', schema: pageSchema(Alert) } },
  })
  @Get()
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const q = validate(ListAlerts, query, 'query');
    return this.alerts.list(orgId, q);
  }
}
