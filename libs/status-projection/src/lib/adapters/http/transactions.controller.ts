import { Body, Controller, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AttemptOutcome, identifier, Stream, timestamp } from '@waybill/contracts';
import { TRANSACTION_STATUSES } from '@waybill/delivery';
import { ApiDoc, ApiKeyGuard, ApiTag, ListQuery, OrgId, pageSchema, validate } from '@waybill/platform';
import { TransactionCommands } from '../../application/commands/transaction-commands.service';
import { TransactionsQuery } from '../../application/queries/transactions.query';
import { RedeliverySweeps } from '../../application/sweeps/redelivery-sweep.service';

const Status = z.enum(TRANSACTION_STATUSES);
/** What can be redelivered: every status but those with a delivery in flight. */
const SettledStatus = z.enum(['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED']);
const Time = timestamp().describe('RFC 3339, years 0001–9999, offsets up to ±14:00');

/** `?status=` may repeat (`?status=FAILED&status=REJECTED`); a comma-separated list is read too. */
const Statuses = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(Status).max(TRANSACTION_STATUSES.length * 2));

const ListTransactions = ListQuery.extend({
  status: Statuses.optional().describe('Any of these statuses; may repeat.'),
  channelId: identifier().optional(),
  relationshipId: identifier().optional(),
  createdAfter: Time.optional().describe('Created at or after (inclusive).'),
  createdBefore: Time.optional().describe('Created before (exclusive).'),
}).strict();

const SweepInput = z
  .object({
    status: SettledStatus.describe('Transactions of this status are redelivered (one with a delivery in flight cannot be).'),
    channelId: identifier().optional(),
    createdAfter: Time.optional(),
    createdBefore: Time.optional(),
    dryRun: z.boolean().default(false).describe('Only count the matches: `200 { count, dryRun: true }`, nothing redelivered.'),
  })
  .strict();

const Attempt = z.object({
  attempt: z.number().int(),
  deliveryId: z.string(),
  at: z.string(),
  statusCode: z.number().int().nullable(),
  outcome: AttemptOutcome,
  durationMs: z.number().int(),
  error: z.string().nullable(),
  responseExcerpt: z.string().nullable().describe("The first KiB of the partner's answer."),
});
const TransactionSummary = z.object({
  id: z.string(),
  status: Status,
  relationshipId: z.string().nullable(),
  channelId: z.string().nullable(),
  senderId: z.string().nullable(),
  receiverId: z.string().nullable(),
  transactionType: z.string().nullable(),
  businessNumber: z.string().nullable(),
  stream: Stream.nullable(),
  createdAt: z.string().nullable(),
  updatedAt: z.string(),
  nextAttemptAt: z.string().nullable().describe('When SENDING: the next attempt is due then.'),
});
const Transaction = TransactionSummary.extend({ attempts: z.array(Attempt) });
const TransactionEvent = z.object({ eventId: z.string(), type: z.string(), occurredAt: z.string(), data: z.unknown() });

@ApiTag('Transactions')
@Controller('v1/transactions')
@UseGuards(ApiKeyGuard)
export class TransactionsController {
  constructor(
    private readonly query: TransactionsQuery,
    private readonly commands: TransactionCommands,
    private readonly sweeps: RedeliverySweeps,
  ) {}

  @ApiDoc({
    summary: 'List transactions',
    description: 'Newest first. Keyset pagination: a walk through the pages neither repeats nor skips a transaction while new ones arrive.',
    query: ListTransactions,
    responses: { 200: { description: 'A page of transactions.', schema: pageSchema(TransactionSummary) } },
  })
  @Get()
  list(@OrgId() orgId: string, @Query() query: unknown) {
    const q = validate(ListTransactions, query, 'query');
    return this.query.list(
      {
        orgId,
        statuses: q.status,
        channelId: q.channelId,
        relationshipId: q.relationshipId,
        createdAfter: q.createdAfter,
        createdBefore: q.createdBefore,
      },
      q.limit,
      q.cursor,
    );
  }

  @ApiDoc({
    summary: 'Redeliver every match (the clean-up sweep)',
    description:
      'Each match gets a new delivery, to its relationship’s channel as it is now. Answers with the number of matches; ' +
      'a large sweep goes on after the answer (a match whose status has changed by then is left alone).',
    body: SweepInput,
    responses: {
      202: { description: 'The sweep is under way.', schema: z.object({ count: z.number().int() }) },
      200: { description: 'With `dryRun: true`: how many it would redeliver now; nothing changed.', schema: z.object({ count: z.number().int(), dryRun: z.literal(true) }) },
    },
  })
  @Post('redeliver')
  @HttpCode(202)
  sweep(@OrgId() orgId: string, @Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const { dryRun, ...filter } = validate(SweepInput, body);
    if (dryRun) {
      void reply.status(200);
      return this.sweeps.count(orgId, filter);
    }
    return this.sweeps.sweep(orgId, filter);
  }

  @ApiDoc({
    summary: 'Get a transaction',
    params: { id: 'The transaction id.' },
    responses: { 200: { description: 'The transaction with its status and attempts.', schema: Transaction } },
  })
  @Get(':id')
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.query.get(orgId, id);
  }

  @ApiDoc({
    summary: "A transaction's events",
    description: 'Its whole history, oldest first, a page at a time.',
    params: { id: 'The transaction id.' },
    query: ListQuery,
    responses: { 200: { description: 'A page of events.', schema: pageSchema(TransactionEvent) } },
  })
  @Get(':id/events')
  events(@OrgId() orgId: string, @Param('id') id: string, @Query() query: unknown) {
    const q = validate(ListQuery.strict(), query, 'query');
    return this.query.events(orgId, id, q.limit, q.cursor);
  }

  @ApiDoc({
    summary: 'Accept a DISPATCHED transaction',
    description: 'Once it answers 200, a read shows ACCEPTED. 409 from any other status; 503 with Retry-After when that cannot be shown within 5 s (the accept is recorded, and repeating it is safe).',
    params: { id: 'The transaction id.' },
    responses: { 200: { description: 'The transaction, ACCEPTED.', schema: Transaction } },
    problems: [409, 503],
  })
  @Post(':id/accept')
  @HttpCode(200)
  accept(@OrgId() orgId: string, @Param('id') id: string) {
    return this.commands.accept(orgId, id);
  }

  @ApiDoc({
    summary: 'Redeliver a transaction',
    description:
      'A new delivery, to its relationship’s channel as it is now. 409 while a delivery is in flight (PENDING or SENDING); ' +
      '422 (RELATIONSHIP_HAS_NO_CHANNEL) when its relationship no longer exists or has no channel, the status left as it is.',
    params: { id: 'The transaction id.' },
    responses: { 202: { description: 'The transaction, PENDING its new delivery.', schema: Transaction } },
    problems: [409, 422],
  })
  @Post(':id/redeliver')
  @HttpCode(202)
  redeliver(@OrgId() orgId: string, @Param('id') id: string) {
    return this.commands.redeliver(orgId, id);
  }
}
