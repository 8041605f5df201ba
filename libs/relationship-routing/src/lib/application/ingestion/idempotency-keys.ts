import type { EntityManager } from 'typeorm';
import { ProblemError } from '@waybill/platform';
import { AcceptedTransaction, accepted, IngestResult, Ready } from './ingestion.types';

/**
 * Claims the Idempotency-Keys of a group's items, in one statement inside the group's database
 * transaction, in (organisation, key) order so that concurrent groups cannot deadlock on each
 * other's keys. An item whose key another request used first is answered here: with that
 * request's transaction when the bodies match (a replay), else 409 `IDEMPOTENCY_KEY_REUSED`.
 * `fresh`: the items to store (those without a key, and those whose key they won).
 */
export async function claimIdempotencyKeys(em: EntityManager, ready: Ready[]): Promise<{ results: Map<Ready, IngestResult>; fresh: Set<Ready> }> {
  const results = new Map<Ready, IngestResult>();
  const claimers = new Map<string, Keyed>();
  const repeats: Keyed[] = [];
  for (const r of ready) {
    if (!isKeyed(r)) continue;
    const scoped = scopedKey(r);
    if (claimers.has(scoped)) repeats.push(r);
    else claimers.set(scoped, r);
  }
  const fresh = new Set(ready.filter((r) => r.key === undefined));
  if (claimers.size > 0) {
    // One order (organisation, key): concurrent groups cannot deadlock on each other's keys.
    const claims = [...claimers.values()].sort((a, b) => compareText(scopedKey(a), scopedKey(b)));
    const claimed: { org_id: string; key: string }[] = await em.query(
      `INSERT INTO idempotency_keys (org_id, key, request_hash, transaction_id, created_at)
       SELECT o, k, h, t, c FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS u(o, k, h, t, c, n)
        ORDER BY n
       ON CONFLICT (org_id, key) DO NOTHING RETURNING org_id, key`,
      [
        claims.map((c) => c.request.orgId),
        claims.map((c) => c.key),
        claims.map((c) => c.fingerprint),
        claims.map((c) => c.header.id),
        claims.map((c) => c.request.now),
      ],
    );
    const won = new Set(claimed.map((c) => scopedKeyOf(c.org_id, c.key)));
    const earlier = await earlierTransactions(em, claims.filter((c) => !won.has(scopedKey(c))));
    for (const c of claims) {
      if (won.has(scopedKey(c))) {
        fresh.add(c);
        continue;
      }
      const first = earlier.get(scopedKey(c));
      results.set(c, first && first.hash === c.fingerprint ? replay(first.transaction, c.key) : reused(c.key));
    }
    // The same key twice in one group: the second is the first one's replay, or a conflict.
    for (const r of repeats) {
      const first = claimers.get(scopedKey(r)) as Keyed;
      const firstResult = results.get(first);
      const firstTransaction = firstResult?.ok ? firstResult.transaction : fresh.has(first) ? accepted(first) : null;
      results.set(r, firstTransaction && first.fingerprint === r.fingerprint ? replay(firstTransaction, r.key) : reused(r.key));
    }
  }
  return { results, fresh };
}

async function earlierTransactions(em: EntityManager, lost: Keyed[]): Promise<Map<string, { hash: string; transaction: AcceptedTransaction }>> {
  if (lost.length === 0) return new Map();
  const rows: { org_id: string; key: string; request_hash: string; id: string; relationship_id: string; channel_id: string; created_at: Date }[] =
    await em.query(
      `SELECT k.org_id, k.key, k.request_hash, t.id, t.relationship_id, t.channel_id, t.created_at
         FROM idempotency_keys k JOIN transactions t ON t.id = k.transaction_id
        WHERE (k.org_id, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [lost.map((l) => l.request.orgId), lost.map((l) => l.key)],
    );
  return new Map(
    rows.map((r) => [
      scopedKeyOf(r.org_id, r.key),
      {
        hash: r.request_hash,
        transaction: { id: r.id, status: 'PENDING', relationshipId: r.relationship_id, channelId: r.channel_id, createdAt: r.created_at.toISOString() },
      },
    ]),
  );
}

type Keyed = Ready & { key: string; fingerprint: string };

function isKeyed(r: Ready): r is Keyed {
  return r.key !== undefined && r.fingerprint !== undefined;
}

/** An Idempotency-Key is the organisation's own: the same key of two organisations are two keys. */
function scopedKey(r: Keyed): string {
  return scopedKeyOf(r.request.orgId, r.key);
}

function scopedKeyOf(orgId: string, key: string): string {
  return JSON.stringify([orgId, key]);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function replay(transaction: AcceptedTransaction, key: string): IngestResult {
  return { ok: true, transaction, replayed: true, idempotencyKey: key };
}

function reused(key: string): IngestResult {
  return {
    ok: false,
    idempotencyKey: key,
    error: new ProblemError(409, 'IDEMPOTENCY_KEY_REUSED', 'Conflict', `The Idempotency-Key ${JSON.stringify(key)} was used with a different body.`),
  };
}
