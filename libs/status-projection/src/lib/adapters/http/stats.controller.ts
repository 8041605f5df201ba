import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ApiDoc, ApiKeyGuard, ApiTag, OrgId, Problems, validate } from '@waybill/platform';
import { TRANSACTION_STATUSES } from '@waybill/delivery';
import { OUTCOMES, StatsQuery } from '../../application/queries/stats.query';
import { statsRange } from '../../domain/stats-range';

const Time = z.iso.datetime({ offset: true }).describe('RFC 3339');

const DeliveriesQuery = z
  .object({
    bucket: z.enum(['1m', '1h']).default('1m').describe('By the minute (at most a day) or by the hour (at most 31 days).'),
    from: Time.optional().describe('Start, aligned down to the bucket; default: an hour (1m) or a day (1h) before `to`.'),
    to: Time.optional().describe('End (exclusive), aligned up to the bucket; default: now.'),
  })
  .strict();

const Count = z.number().int();
const DeliveryStats = z.object({
  bucket: z.enum(['1m', '1h']),
  from: z.string(),
  to: z.string(),
  data: z
    .array(z.object({ at: z.string().describe('The bucket’s start.'), ...Object.fromEntries(OUTCOMES.map((o) => [o, Count])) }))
    .describe('One entry per bucket, oldest first, zeros included.'),
});

const TransactionStats = z.object({ ...Object.fromEntries(TRANSACTION_STATUSES.map((s) => [s, Count])), total: Count });

@ApiTag('Statistics', 'Figures for a dashboard, from the status projection.')
@Controller('v1/stats')
@UseGuards(ApiKeyGuard)
export class StatsController {
  constructor(private readonly stats: StatsQuery) {}

  @ApiDoc({
    summary: 'Delivery attempts per bucket and outcome',
    description:
      'Attempts (each request to a partner, and each lease of a pull message) counted by the minute or the hour and by outcome, ' +
      'from the projection. Buckets are aligned in UTC; a call covers at most 1,440 minutes or 744 hours.',
    query: DeliveriesQuery,
    responses: { 200: { description: 'The counts.', schema: DeliveryStats } },
  })
  @Get('deliveries')
  async deliveries(@OrgId() orgId: string, @Query() query: unknown) {
    const q = validate(DeliveriesQuery, query, 'query');
    const r = statsRange(q.bucket, new Date(), q.from, q.to);
    if (!r.ok) throw Problems.invalid([{ path: `query.${r.path}`, message: r.message }]);
    const data = await this.stats.deliveries(orgId, q.bucket, r.range);
    return { bucket: q.bucket, from: r.range.from.toISOString(), to: r.range.to.toISOString(), data };
  }

  @ApiDoc({
    summary: 'Transactions by status',
    description: 'The organisation’s transactions counted by status, from the projection’s counters.',
    responses: { 200: { description: 'A count per status, and the total.', schema: TransactionStats } },
  })
  @Get('transactions')
  transactions(@OrgId() orgId: string) {
    return this.stats.transactions(orgId);
  }
}
