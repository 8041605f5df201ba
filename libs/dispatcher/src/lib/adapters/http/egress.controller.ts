import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ApiDoc, ApiKeyGuard, ApiTag, CONFIG, WaybillConfig } from '@waybill/platform';

const EgressResponse = z.object({
  ranges: z.array(z.string()).describe('CIDR ranges Waybill’s partner requests come from (`WAYBILL_EGRESS_RANGES`): what a partner allowlists.'),
  proxy: z.boolean().describe('Whether partner requests go through the deployment’s egress proxy (`WAYBILL_EGRESS_PROXY`).'),
});

/** Where the dispatcher's requests to partners come from, for partners to allowlist. */
@ApiTag('Delivery')
@Controller('v1/egress')
@UseGuards(ApiKeyGuard)
export class EgressController {
  private readonly answer: z.infer<typeof EgressResponse>;

  constructor(@Inject(CONFIG) config: WaybillConfig) {
    this.answer = { ranges: config.egress.ranges, proxy: config.egress.proxy !== undefined };
  }

  @Get()
  @ApiDoc({
    summary: 'Where deliveries come from',
    description:
      'The source ranges of every request Waybill makes to partners — deliveries, test deliveries, OAuth2 token requests and ' +
      'alerts — as the deployment publishes them, so that partners can allowlist them.',
    responses: { 200: { description: 'The egress ranges.', schema: EgressResponse } },
  })
  get() {
    return this.answer;
  }
}
