import { ChannelRegistryModule } from '@waybill/channel-registry';
import { DispatcherModule } from '@waybill/dispatcher';
import { RelationshipRoutingModule } from '@waybill/relationship-routing';
import { StatusProjectionModule } from '@waybill/status-projection';
import { ApiClient, eventually, uniqueName } from '@waybill/testing';
import { ADMIN_KEY, Harness, startHarness } from './harness';

export { ADMIN_KEY };

/** All four services in one process: the harness of `./harness`, with the dispatcher and the status projection. */
export interface Waybill extends Harness {
  url: string;
}

export async function startWaybillInProcess(env: Record<string, string> = {}): Promise<Waybill> {
  const harness = await startHarness(env, [ChannelRegistryModule, RelationshipRoutingModule, DispatcherModule, StatusProjectionModule]);
  return { ...harness, url: harness.service.url };
}

/** Creates a channel to `url` and a relationship on it; answers both ids. */
export async function channelWithRelationship(api: ApiClient, url: string, channel: Record<string, unknown> = {}) {
  const ch = await api.post('/v1/channels', { name: `Partner ${uniqueName('')}`, type: 'HTTP', url, ...channel });
  if (ch.status !== 201) throw new Error(`channel: ${ch.status} ${JSON.stringify(ch.body)}`);
  const rel = await api.post('/v1/relationships', { senderId: uniqueName('S'), receiverId: 'GLOBEX', transactionType: '850', channelId: ch.body.id });
  if (rel.status !== 201) throw new Error(`relationship: ${rel.status} ${JSON.stringify(rel.body)}`);
  return { channelId: ch.body.id as string, relationshipId: rel.body.id as string };
}

export async function send(api: ApiClient, relationshipId: string, payload: unknown = { po: 1 }): Promise<string> {
  const tx = await api.post('/v1/transactions', { relationshipId, payload });
  if (tx.status !== 202) throw new Error(`send: ${tx.status} ${JSON.stringify(tx.body)}`);
  return tx.body.id;
}

/** Waits until the transaction shows `status`; answers it as GET shows it. */
export function statusOf(api: ApiClient, id: string, status: string, timeoutMs = 20_000) {
  return eventually(
    async () => (await api.get(`/v1/transactions/${id}`)).body,
    (t) => t?.status === status,
    timeoutMs,
    `transaction ${id} ${status}`,
  );
}

/** Every page of a list, following `nextCursor`. */
export async function allPages(api: ApiClient, path: string, limit = 100): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res: { status: number; body: any } = await api.get(`${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
    items.push(...res.body.data);
    cursor = res.body.nextCursor;
  } while (cursor);
  return items;
}
