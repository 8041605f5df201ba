import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { Format, TransactionHeader } from '@waybill/contracts';
import { eventMessage, OutgoingMessage } from '@waybill/messaging';
import { ChannelReplica, newId } from '@waybill/platform';
import type { RelationshipRow } from './relationships.service';

/** Where a transaction goes: its deliveries (generations) to its relationship's channel. */
@Injectable()
export class RoutingService {
  constructor(private readonly channels: ChannelReplica) {}

  /**
   * A new transaction's events: `transaction.received.v2`, which names its first delivery, and that
   * delivery's `delivery.requested`.
   */
  firstDelivery(
    orgId: string,
    header: TransactionHeader,
    channelId: string,
    format: Format,
    payloadText: string,
    payloadBytes: number,
    now: Date,
  ): OutgoingMessage[] {
    const deliveryId = newId('dl');
    const transactionId = header.id;
    return [
      eventMessage(
        'transaction.received.v2',
        { orgId, key: transactionId, data: { ...header, channelId, format, payloadBytes, deliveryId, generation: 1 } },
        now,
      ),
      this.requested(orgId, header, channelId, deliveryId, format, payloadText, 1, now),
    ];
  }

  /** `transaction.routed` and `delivery.requested` of a later delivery (a generation) of a transaction. */
  deliveryEvents(
    orgId: string,
    header: TransactionHeader,
    channelId: string,
    format: Format,
    payloadText: string,
    generation: number,
    now: Date,
  ): OutgoingMessage[] {
    const deliveryId = newId('dl');
    const transactionId = header.id;
    return [
      eventMessage('transaction.routed.v1', { orgId, key: transactionId, data: { transactionId, channelId, deliveryId, generation } }, now),
      this.requested(orgId, header, channelId, deliveryId, format, payloadText, generation, now),
    ];
  }

  private requested(
    orgId: string,
    header: TransactionHeader,
    channelId: string,
    deliveryId: string,
    format: Format,
    payloadText: string,
    generation: number,
    now: Date,
  ): OutgoingMessage {
    return eventMessage(
      'delivery.requested.v2',
      { orgId, key: channelId, data: { deliveryId, transactionId: header.id, channelId, generation, format, transaction: header, payloadText } },
      now,
    );
  }

  /**
   * A new delivery of a stored transaction, to its relationship's channel as it is now (a partner
   * that fixed its URL, or a relationship moved to another channel, needs nothing else). Without a
   * channel any more, the request is refused with the reason (`transaction.redelivery-refused`,
   * naming `requestId`): nothing is sent, and the transaction's status stays what it was.
   */
  async redeliver(em: EntityManager, orgId: string, transactionId: string, requestId: string, now: Date): Promise<OutgoingMessage[]> {
    const rows: { header: TransactionHeader; payload: string; format: Format; generation: number; relationship_id: string }[] =
      await em.query(
        'SELECT header, payload, format, generation, relationship_id FROM transactions WHERE id = $1 AND org_id = $2 FOR UPDATE',
        [transactionId, orgId],
      );
    const tx = rows[0];
    if (!tx) return [];
    const rel: RelationshipRow[] = await em.query('SELECT * FROM relationships WHERE id = $1', [tx.relationship_id]);
    const channelId = rel[0]?.channel_id ?? null;
    const channel = channelId ? await this.channels.channel(orgId, channelId) : undefined;
    if (!channel) {
      const reason = !rel[0] ? 'the relationship no longer exists' : channelId ? 'the relationship’s channel no longer exists' : 'the relationship has no channel';
      return [eventMessage('transaction.redelivery-refused.v1', { orgId, key: transactionId, data: { transactionId, requestId, reason } }, now)];
    }
    const generation = tx.generation + 1;
    await em.query('UPDATE transactions SET generation = $2, channel_id = $3 WHERE id = $1', [transactionId, generation, channel.id]);
    return this.deliveryEvents(orgId, tx.header, channel.id, channel.format, tx.payload, generation, now);
  }
}
