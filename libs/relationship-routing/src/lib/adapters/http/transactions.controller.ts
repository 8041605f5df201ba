import { Body, Controller, Headers, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiDoc, ApiKeyGuard, ApiTag, BodyLimit, OrgId, ProblemError, validate } from '@waybill/platform';
import { IngestionService, IngestResult } from '../../application/ingestion.service';
import {
  IdempotencyKey, MAX_BATCH_BODY_BYTES, MAX_TRANSACTION_BODY_BYTES, SendBatchDoc, SendBatchInput, SendTransactionInput,
} from '../../domain/transaction.input';
import { BatchAccepted, TransactionAccepted } from './routing.schemas';

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
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const [result] = await this.ingestion.ingest(orgId, [{ body, path: 'body', idempotencyKey, fingerprintOf: body }]);
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
  async sendBatch(@OrgId() orgId: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const { transactions } = validate(SendBatchInput, body);
    const results = await this.ingestion.ingest(
      orgId,
      transactions.map((item, i) => {
        const { idempotencyKey, ...rest } = isObject(item) ? item : { idempotencyKey: undefined };
        return { body: isObject(item) ? rest : item, path: `body.transactions[${i}]`, idempotencyKey, fingerprintOf: isObject(item) ? rest : item };
      }),
    );
    void reply.status(202).send({ data: results.map(itemAnswer) });
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
