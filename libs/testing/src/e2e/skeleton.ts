import { ApiClient, eventually } from '../http/api-client';
import type { PartnerReceiver } from '../http/receiver';

/**
 * The walking skeleton, as a user drives it: a channel, a relationship on it, a transaction, and
 * its status read back at once and then once delivered. Each call follows the previous one at
 * once: read-your-writes across the services.
 */
export async function sendOneTransaction(api: ApiClient, receiver: PartnerReceiver, path = '/hook') {
  const channel = await api.post('/v1/channels', { name: 'Acme ERP', type: 'HTTP', url: receiver.url(path) });
  expectStatus(channel, 201);
  const rel = await api.post('/v1/relationships', {
    senderId: `ACME-${channel.body.id}`,
    receiverId: 'GLOBEX',
    transactionType: '850',
    channelId: channel.body.id,
  });
  expectStatus(rel, 201);
  const tx = await api.post('/v1/transactions', { relationshipId: rel.body.id, payload: { purchaseOrderNumber: 'PO-1' } });
  expectStatus(tx, 202);
  const first = await api.get(`/v1/transactions/${tx.body.id}`);
  expectStatus(first, 200);
  return { channel: channel.body, relationship: rel.body, transaction: tx.body, firstRead: first.body };
}

export function waitForStatus(api: ApiClient, id: string, status: string, timeoutMs = 30_000) {
  return eventually(
    async () => (await api.get(`/v1/transactions/${id}`)).body,
    (t) => t?.status === status,
    timeoutMs,
    `transaction ${id} ${status}`,
  );
}

function expectStatus(res: { status: number; body: unknown }, status: number): void {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
}
