import { Body, Controller, Headers, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ApiKeyGuard, OrgId, validate } from '@waybill/platform';
import { RoutingService } from '../../application/routing.service';
import { SendTransactionInput } from '../../domain/transaction.input';

const IdempotencyKey = z.string().min(1).max(255);

@Controller('v1/transactions')
@UseGuards(ApiKeyGuard)
export class TransactionsController {
  constructor(private readonly routing: RoutingService) {}

  /** `202` with the new transaction; `200` with the first one when the Idempotency-Key replays it. */
  @Post()
  async send(
    @OrgId() orgId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const input = validate(SendTransactionInput, body);
    const key = idempotencyKey === undefined ? undefined : validate(IdempotencyKey, idempotencyKey, 'header.idempotency-key');
    const { transaction, replayed } = await this.routing.send(orgId, input, key ? { key, body } : undefined);
    void reply.status(replayed ? 200 : 202).send(transaction);
  }
}
