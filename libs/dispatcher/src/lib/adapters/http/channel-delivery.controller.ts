import { Body, Controller, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { identifier } from '@waybill/contracts';
import { ApiDoc, ApiKeyGuard, ApiTag, OrgId, validate } from '@waybill/platform';
import { ChannelTools } from '../../application/channel-tools.service';
import { pullMessagesJson } from '../../application/pull/pull-messages';
import { PullQueue } from '../../application/pull/pull-queue';
import { AckResponse, HealthResponse, PendingMessageResponse, PullMessageResponse, TestResponse } from './dispatcher.schemas';

const ID = { id: 'The channel’s id (`ch_…`).' };

const MessagesQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(10),
    waitMs: z.coerce.number().int().min(0).max(20_000).default(0),
  })
  .strict();

const PendingQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(50) }).strict();

const Circuit = z.enum(['CLOSED', 'OPEN', 'HALF_OPEN']);
const HealthListQuery = z
  .object({
    circuit: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(Circuit).min(1).max(6))
      .default(['OPEN', 'HALF_OPEN'])
      .describe('Any of these circuit states; may repeat. Default: OPEN and HALF_OPEN.'),
  })
  .strict();

const DeliveryIds = z.array(identifier()).min(1).max(100);
const AckBody = z.object({ deliveryIds: DeliveryIds }).strict();
const NackBody = z.object({ deliveryIds: DeliveryIds, reject: z.boolean().default(false) }).strict();

/** What the dispatcher answers about a channel: its health, a test delivery, and its pull queue. */
@ApiTag('Delivery', 'A channel as the dispatcher sees it: its circuit and health, a test delivery, and the queue of a PULL channel.')
@Controller('v1/channels/:id')
@UseGuards(ApiKeyGuard)
export class ChannelDeliveryController {
  constructor(
    private readonly tools: ChannelTools,
    private readonly pull: PullQueue,
  ) {}

  @Get('health')
  @ApiDoc({
    summary: 'A channel’s health',
    description: 'Its circuit, what is in flight and waiting, and its last outcomes, as the dispatcher that owns the channel reports them.',
    params: ID,
    responses: { 200: { description: 'The health.', schema: HealthResponse } },
  })
  health(@OrgId() orgId: string, @Param('id') id: string) {
    return this.tools.healthOf(orgId, id);
  }

  @Post('test')
  @HttpCode(200)
  @ApiDoc({
    summary: 'Send a test delivery',
    description:
      'Sends one test delivery (stream TEST, header `Waybill-Test: true`) to the channel now, with its auth, signature and headers, ' +
      'around its circuit breaker and limits; records nothing. `409` for a PULL channel.',
    params: ID,
    responses: { 200: { description: 'What the partner answered.', schema: TestResponse } },
    problems: [409],
  })
  test(@OrgId() orgId: string, @Param('id') id: string) {
    return this.tools.test(orgId, id);
  }

  @Get('messages')
  @ApiDoc({
    summary: 'Lease waiting messages (PULL)',
    description:
      'Leases up to `limit` waiting deliveries, oldest first, for the channel’s visibility timeout; with none waiting, waits up to ' +
      '`waitMs` for some (long poll). Each lease counts as an attempt. A disabled channel leases nothing. `409` for a push channel.',
    params: ID,
    query: MessagesQuery,
    responses: { 200: { description: 'The leased messages.', schema: z.object({ data: z.array(PullMessageResponse) }) } },
    problems: [409],
  })
  async messages(@OrgId() orgId: string, @Param('id') id: string, @Query() query: unknown, @Res() reply: FastifyReply): Promise<void> {
    const { limit, waitMs } = validate(MessagesQuery, query, 'query');
    const channel = await this.tools.pullChannel(orgId, id);
    // A disabled channel holds its messages: nothing is leased (no attempt made or spent).
    const messages = channel.enabled ? await this.pull.lease(channel, limit, waitMs) : [];
    void reply.type('application/json; charset=utf-8').send(pullMessagesJson(messages));
  }

  @Get('messages/pending')
  @ApiDoc({
    summary: 'Peek at waiting messages (PULL)',
    description:
      'The queued messages, oldest first — those leased by the partner now too (`leasedUntil`) — without leasing any: ' +
      'no attempt is made or spent. For operators; a partner takes messages with `GET …/messages`. `409` for a push channel.',
    params: ID,
    query: PendingQuery,
    responses: { 200: { description: 'The queued messages.', schema: z.object({ data: z.array(PendingMessageResponse) }) } },
    problems: [409],
  })
  async pending(@OrgId() orgId: string, @Param('id') id: string, @Query() query: unknown) {
    const { limit } = validate(PendingQuery, query, 'query');
    const channel = await this.tools.pullChannel(orgId, id);
    return { data: await this.pull.peek(channel.id, limit) };
  }

  @Post('messages/ack')
  @HttpCode(200)
  @ApiDoc({
    summary: 'Acknowledge messages (PULL)',
    description: 'The transactions become ACCEPTED. Idempotent: acknowledging again answers the same.',
    params: ID,
    body: AckBody,
    responses: { 200: { description: 'Each message’s state.', schema: AckResponse } },
    problems: [409],
  })
  async ack(@OrgId() orgId: string, @Param('id') id: string, @Body() body: unknown) {
    const { deliveryIds } = validate(AckBody, body);
    return { data: await this.pull.ack(await this.tools.pullChannel(orgId, id), deliveryIds) };
  }

  @Post('messages/nack')
  @HttpCode(200)
  @ApiDoc({
    summary: 'Return or reject messages (PULL)',
    description:
      'Leased messages go back to the queue (the attempt is spent: when the retry policy is, the transaction is FAILED), or with ' +
      '`reject: true` the transactions become REJECTED. Idempotent.',
    params: ID,
    body: NackBody,
    responses: { 200: { description: 'Each message’s state.', schema: AckResponse } },
    problems: [409],
  })
  async nack(@OrgId() orgId: string, @Param('id') id: string, @Body() body: unknown) {
    const { deliveryIds, reject } = validate(NackBody, body);
    return { data: await this.pull.nack(await this.tools.pullChannel(orgId, id), deliveryIds, reject) };
  }
}

/** The organisation's channels by circuit state, in one call (a dashboard's "circuits open"). */
@ApiTag('Delivery')
@Controller('v1/channel-health')
@UseGuards(ApiKeyGuard)
export class ChannelHealthListController {
  constructor(private readonly tools: ChannelTools) {}

  @Get()
  @ApiDoc({
    summary: 'Channels by circuit state',
    description:
      'The health of every channel of the organisation whose circuit is in one of the states asked (default: OPEN and HALF_OPEN), ' +
      'as their dispatchers report them. A channel that never failed has no report and counts as CLOSED.',
    query: HealthListQuery,
    responses: { 200: { description: 'The channels’ health.', schema: z.object({ data: z.array(HealthResponse) }) } },
  })
  async list(@OrgId() orgId: string, @Query() query: unknown) {
    const { circuit } = validate(HealthListQuery, query, 'query');
    return { data: await this.tools.withCircuit(orgId, circuit) };
  }
}
