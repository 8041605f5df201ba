import { Body, Controller, Get, Headers, Param, Post, Query, RawBodyRequest, Req, Res, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiDoc, ApiKeyGuard, ApiTag, BodyLimit, OrgId, ProblemError, Problems, validate } from '@waybill/platform';
import { IngestionService, IngestResult } from '../../application/ingestion/ingestion.service';
import {
  IdempotencyKey, MAX_BATCH_BODY_BYTES, MAX_TRANSACTION_BODY_BYTES, SendBatchDoc, SendBatchInput, SendTransactionInput,
} from '../../domain/transaction.input';
import { BatchAccepted, SentRequestResponse, TransactionAccepted } from './routing.schemas';
import { locateSpans, Span } from '../../domain/json-text';
import { SentRequests } from '../../application/sent-requests.service';

const IDEMPOTENCY_HEADER = {
  'Idempotency-Key': {
    description:
      'Scoped to the organisation and kept at least 24 h. The same key with the same body (the same JSON value) answers 200 ' +
      'with the first transaction; with another body, 409. Two concurrent requests with one key create one transaction.',
    schema: IdempotencyKey,
  },
};

@ApiTag('Transactions', 'Sending transactions, one or a batch at a time.')
@Controller('v1/transactions')
@UseGuards(ApiKeyGuard)
export class TransactionsController {
  constructor(private readonly ingestion: IngestionService) {}

  /** `202` with the new transaction; `200` with the first one when the Idempotency-Key replays it. */
  @Post()
  @BodyLimit(MAX_TRANSACTION_BODY_BYTES)
  @ApiDoc({
    summary: 'Send a transaction',
    description:
      'By `relationshipId`, or by `senderId`, `receiverId` and `transactionType`. The payload is any JSON value for a JSON ' +
      'channel, or the document as a string for XML (well-formed) and X12 (starting with ISA). 404: unknown relationship; ' +
      '422: the relationship has no channel; 413: the payload is over 1 MiB, or the body over 2,162,688 bytes.',
    body: SendTransactionInput,
    headers: IDEMPOTENCY_HEADER,
    responses: {
      202: { description: 'Accepted; `GET /v1/transactions/{id}` shows it at once.', schema: TransactionAccepted },
      200: { description: 'An earlier request with the same Idempotency-Key and body created it.', schema: TransactionAccepted },
    },
    problems: [404, 409, 413, 422],
  })
  async send(
    @OrgId() orgId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Headers('content-length') contentLength: string | undefined,
    @Req() req: RawBodyRequest<FastifyRequest>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const text = sentText(req, body);
    const { payload } = locateSpans(text);
    const item = { body, path: 'body', idempotencyKey, sentText: text, payload: payloadOf(text, payload) };
    const [result] = await this.ingestion.ingest(orgId, [item], { bytes: bodyBytes(contentLength) });
    if (!result.ok) throw result.error;
    void reply.status(result.replayed ? 200 : 202).send(result.transaction);
  }

  @Post('batch')
  @BodyLimit(MAX_BATCH_BODY_BYTES)
  @ApiDoc({
    summary: 'Send a batch of transactions',
    description:
      'Up to 500, taken in one database transaction and answered item by item, in order: `{ id, … }` or `{ error }` (a problem ' +
      'whose paths point into the batch), each with its `idempotencyKey` when it had one. An item that fails changes nothing; ' +
      'the others are accepted. The body is at most 32 MiB (413 beyond).',
    body: SendBatchDoc,
    responses: { 202: { description: 'One result per item.', schema: BatchAccepted } },
  })
  async sendBatch(
    @OrgId() orgId: string,
    @Body() body: unknown,
    @Headers('content-length') contentLength: string | undefined,
    @Req() req: RawBodyRequest<FastifyRequest>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { transactions } = validate(SendBatchInput, body);
    const text = sentText(req, body);
    const { items } = locateSpans(text);
    const results = await this.ingestion.ingest(
      orgId,
      transactions.map((item, i) => {
        const { idempotencyKey, ...rest } = isObject(item) ? item : { idempotencyKey: undefined };
        const spans = items[i];
        return {
          body: isObject(item) ? rest : item,
          path: `body.transactions[${i}]`,
          idempotencyKey,
          sentText: spans ? text.slice(spans.item.start, spans.item.end) : JSON.stringify(item),
          payload: payloadOf(text, spans?.payload),
        };
      }),
      { bytes: bodyBytes(contentLength) },
    );
    void reply.status(202).send({ data: results.map(itemAnswer) });
  }
}

/** The body as the text it was sent as (a JSON body always has it); else as JSON writes the parsed value. */
function sentText(req: RawBodyRequest<FastifyRequest>, body: unknown): string {
  return req.rawBody ? req.rawBody.toString('utf8') : (JSON.stringify(body) ?? 'null');
}

function payloadOf(text: string, span: Span | undefined): { text: string; depth: number } | undefined {
  return span ? { text: text.slice(span.start, span.end), depth: span.depth } : undefined;
}

/** The body's size from its Content-Length (the body parser has checked it), or undefined. */
function bodyBytes(contentLength: string | undefined): number | undefined {
  const n = Number(contentLength);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const RequestQuery = z
  .object({
    deliveryId: z.string().min(1).max(200).regex(/^[A-Za-z0-9_-]+$/, 'not a delivery id').optional().describe('With `attempt`: show that attempt’s request.'),
    attempt: z.coerce.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

/** What was sent for a transaction: routing keeps the payloads. */
@ApiTag('Transactions')
@Controller('v1/transactions/:id/request')
@UseGuards(ApiKeyGuard)
export class SentRequestController {
  constructor(private readonly requests: SentRequests) {}

  @Get()
  @ApiDoc({
    summary: 'The payload and the request sent',
    description:
      'The payload as it was received, and the request its channel’s partner gets — method, URL, headers and body — as the ' +
      'channel renders it now (a change to a channel applies to every later attempt). Secrets are never shown: the ' +
      '`authorization` value, the signature, and static headers whose names look secret are `[redacted]`. With `deliveryId` and ' +
      '`attempt` (from the transaction’s attempts) the body and headers are that attempt’s; without them the per-attempt parts ' +
      'are left out (`delivery: null`). `request` is null for a PULL channel.',
    params: { id: 'The transaction id.' },
    query: RequestQuery,
    responses: { 200: { description: 'The payload and the request.', schema: SentRequestResponse } },
  })
  async get(@OrgId() orgId: string, @Param('id') id: string, @Query() query: unknown) {
    const q = validate(RequestQuery, query, 'query');
    if ((q.deliveryId === undefined) !== (q.attempt === undefined)) {
      throw Problems.invalid([{ path: q.deliveryId === undefined ? 'query.deliveryId' : 'query.attempt', message: 'give both `deliveryId` and `attempt`, or neither' }]);
    }
    const attempt = q.deliveryId !== undefined && q.attempt !== undefined ? { deliveryId: q.deliveryId, attempt: q.attempt } : undefined;
    return this.requests.of(orgId, id, attempt);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function itemAnswer(result: IngestResult) {
  const key = result.idempotencyKey !== undefined ? { idempotencyKey: result.idempotencyKey } : {};
  if (result.ok) return { ...result.transaction, ...key, ...(result.replayed && { replayed: true }) };
  return { error: problemBody(result.error), ...key };
}

/** The problem+json body of one item (the same shape the HTTP edge gives a whole request's problem). */
function problemBody(p: ProblemError) {
  return {
    type: `https://waybill.dev/problems/${p.code.toLowerCase().replace(/_/g, '-')}`,
    title: p.title,
    status: p.status,
    code: p.code,
    ...(p.detail && { detail: p.detail }),
    ...(p.errors && { errors: p.errors }),
  };
}
