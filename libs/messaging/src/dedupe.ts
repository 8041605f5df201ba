import type { EntityManager } from 'typeorm';

/**
 * Records `eventIds` as handled by `consumer`, inside the caller's transaction, and returns those
 * that were new. The caller applies only those: the same event twice changes nothing.
 */
export async function claimEvents(em: EntityManager, consumer: string, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const rows: { event_id: string }[] = await em.query(
    `INSERT INTO processed_events (consumer, event_id)
     SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id`,
    [consumer, eventIds],
  );
  return new Set(rows.map((r) => r.event_id));
}
