import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Format, TransactionHeader } from '@waybill/contracts';
import { ChannelReplica, Problems } from '@waybill/platform';
import { ROUTING_DB } from './routing.database';
import { sentRequest, SentRequestView } from '../domain/sent-request';

/**
 * `GET /v1/transactions/{id}/request`: routing keeps every payload, so routing shows what was sent
 * — the payload, and the request as the channel renders it now, secrets left out.
 */
@Injectable()
export class SentRequests {
  constructor(
    @Inject(ROUTING_DB) private readonly db: DataSource,
    private readonly channels: ChannelReplica,
  ) {}

  async of(orgId: string, id: string, attempt?: { deliveryId: string; attempt: number }): Promise<SentRequestView> {
    const rows: { header: TransactionHeader; format: Format; payload: string; channel_id: string }[] = await this.db.query(
      'SELECT header, format, payload, channel_id FROM transactions WHERE id = $1 AND org_id = $2',
      [id, orgId],
    );
    const tx = rows[0];
    if (!tx) throw Problems.notFound('Transaction', id);
    const channel = await this.channels.channel(orgId, tx.channel_id);
    return sentRequest({ header: tx.header, format: tx.format, payload: tx.payload, channel, attempt });
  }
}
