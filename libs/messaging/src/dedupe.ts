import type { EntityManager } from 'typeorm';

/**
 * Records `eventIds` as handled by `consumer`, inside the caller's transaction, and returns those
 * that were new, spelled as the caller gave them. The caller applies only those: the same event
 * twice changes nothing.
 */
export async function claimEvents(em: EntityManager, consumer: string, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const rows: { event_id: string }[] = await em.query(
    `INSERT INTO processed_events (consumer, event_id)
     SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`,
    [consumer, eventIds],
  );
  // Postgres answers uuids in lower case; event ids are valid in any case, and callers look their
  // own spelling up in the result. The first spelling of an id stands for all of them.
  const asGiven = new Map<string, string>();
  for (const id of eventIds) if (!asGiven.has(id.toLowerCase())) asGiven.set(id.toLowerCase(), id);
  return new Set(rows.map((r) => asGiven.get(r.event_id) ?? r.event_id));
}
