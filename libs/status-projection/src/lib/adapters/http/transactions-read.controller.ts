import { Controller, Get, Param, UseGuards } from '@nestjs/common';
import { ApiKeyGuard, OrgId } from '@waybill/platform';
import { TransactionsQuery } from '../../application/transactions.query';

@Controller('v1/transactions')
@UseGuards(ApiKeyGuard)
export class TransactionsReadController {
  constructor(private readonly query: TransactionsQuery) {}

  @Get(':id')
  get(@OrgId() orgId: string, @Param('id') id: string) {
    return this.query.get(orgId, id);
  }
}
