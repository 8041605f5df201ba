import type { ApiClient } from '../http/api-client';

/** How one race ended: the delete's status, the create's, and the create's problem code. */
export interface ChannelDeleteRace {
  channelId: string;
  deleted: number;
  created: number;
  createCode?: string;
  deleteCode?: string;
  /** After both answered: the channel's GET status and the relationships on it. */
  channelAfter: number;
  relationshipsAfter: number;
  /** When the delete was refused: a relationship created on the channel right after it. */
  createdAfterRefusal?: number;
}

/**
 * Races deleting a channel (on `registry`) against creating a relationship on it (on `routing`),
 * `rounds` × `parallel` times with a fresh channel each. The creates leave with the delete or up
 * to a little past the time an uncontested delete takes (measured first), so that they land
 * before routing counts the channel's relationships, while it does, and after the delete decided.
 * @returns every race's answers and what was left, and the measured delete time (ms).
 */
export async function raceChannelDeletes(
  registry: ApiClient,
  routing: ApiClient,
  rounds: number,
  parallel = 5,
): Promise<{ races: ChannelDeleteRace[]; deleteMs: number }> {
  const url = 'http://127.0.0.1:4000/orders';
  const probe = await registry.post('/v1/channels', { name: 'Probe', url });
  const started = Date.now();
  const probeDelete = await registry.delete(`/v1/channels/${probe.body.id}`);
  if (probeDelete.status !== 204) throw new Error(`probe delete: ${probeDelete.status} ${JSON.stringify(probeDelete.body)}`);
  const deleteMs = Date.now() - started;
  const delays = [0, 0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1, 1.3].map((f) => Math.round(f * deleteMs));

  const races: ChannelDeleteRace[] = [];
  for (let round = 0; round < rounds; round++) {
    races.push(
      ...(await Promise.all(
        Array.from({ length: parallel }, async (_, i) => {
          const channel = await registry.post('/v1/channels', { name: `Partner ${round}-${i}`, url });
          if (channel.status !== 201) throw new Error(`channel: ${channel.status} ${JSON.stringify(channel.body)}`);
          const channelId = channel.body.id as string;
          const createAfterMs = delays[(round * parallel + i) % delays.length];
          const [deleted, created] = await Promise.all([
            registry.delete(`/v1/channels/${channelId}`),
            new Promise((resolve) => setTimeout(resolve, createAfterMs)).then(() =>
              routing.post('/v1/relationships', { senderId: `S${round}x${i}`, receiverId: 'GLOBEX', transactionType: '850', channelId }),
            ),
          ]);
          const [after, onChannel] = await Promise.all([
            registry.get(`/v1/channels/${channelId}`),
            routing.get(`/v1/relationships?channelId=${channelId}`),
          ]);
          const again =
            deleted.status === 409
              ? await routing.post('/v1/relationships', { senderId: `S${round}x${i}b`, receiverId: 'GLOBEX', transactionType: '850', channelId })
              : undefined;
          return {
            channelId,
            deleted: deleted.status,
            created: created.status,
            createCode: created.body?.code,
            deleteCode: deleted.body?.code,
            channelAfter: after.status,
            relationshipsAfter: (onChannel.body?.data ?? []).length,
            createdAfterRefusal: again?.status,
          };
        }),
      )),
    );
  }
  return { races, deleteMs };
}

/** One line tallying how the races ended, for the test's output. */
export function describeChannelDeleteRaces(label: string, { races, deleteMs }: { races: ChannelDeleteRace[]; deleteMs: number }): string {
  const count = (p: (r: ChannelDeleteRace) => boolean) => races.filter(p).length;
  return (
    `${label}: ${races.length} races (an uncontested delete took ${deleteMs} ms): ` +
    `delete 204 + create 404 ${count((r) => r.deleted === 204 && r.created === 404)}, ` +
    `delete 204 + create 409 ${count((r) => r.deleted === 204 && r.created === 409)}, ` +
    `create 201 + delete 409 ${count((r) => r.created === 201 && r.deleted === 409)}, ` +
    `both refused ${count((r) => r.created !== 201 && r.deleted !== 204)}, both succeeded ${count((r) => r.created === 201 && r.deleted === 204)}\n`
  );
}
