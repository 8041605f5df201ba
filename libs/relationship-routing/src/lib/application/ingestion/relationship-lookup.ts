import type { DataSource } from 'typeorm';
import { Problems } from '@waybill/platform';
import type { SendTransactionInput } from '../../domain/transaction.input';
import type { RelationshipRow } from '../relationships.service';
import type { Request } from './ingestion.types';

/** Finds every item's relationship, of every request of the group, in one query (by id, or by sender, receiver and type). */
export async function findRelationships(db: Pick<DataSource, 'query'>, requests: Request[]): Promise<(orgId: string, input: SendTransactionInput) => RelationshipRow> {
  const ids = new Map<string, [string, string]>();
  const triples = new Map<string, [string, string, string, string]>();
  for (const { orgId, items } of requests) {
    for (const { input } of items) {
      if ('relationshipId' in input) ids.set(idKey(orgId, input.relationshipId), [orgId, input.relationshipId]);
      else triples.set(tripleKey(orgId, input.senderId, input.receiverId, input.transactionType), [orgId, input.senderId, input.receiverId, input.transactionType]);
    }
  }
  const byId = new Map<string, RelationshipRow>();
  const byTriple = new Map<string, RelationshipRow>();
  if (ids.size > 0 || triples.size > 0) {
    const i = [...ids.values()];
    const t = [...triples.values()];
    const rows: RelationshipRow[] = await db.query(
      `SELECT * FROM relationships
        WHERE (org_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           OR (org_id, sender_id, receiver_id, transaction_type) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]))`,
      [i.map((x) => x[0]), i.map((x) => x[1]), t.map((x) => x[0]), t.map((x) => x[1]), t.map((x) => x[2]), t.map((x) => x[3])],
    );
    for (const r of rows) {
      byId.set(idKey(r.org_id, r.id), r);
      byTriple.set(tripleKey(r.org_id, r.sender_id, r.receiver_id, r.transaction_type), r);
    }
  }
  return (orgId, input) => {
    const found =
      'relationshipId' in input
        ? byId.get(idKey(orgId, input.relationshipId))
        : byTriple.get(tripleKey(orgId, input.senderId, input.receiverId, input.transactionType));
    if (found) return found;
    throw Problems.notFound(
      'Relationship',
      'relationshipId' in input ? input.relationshipId : `${input.senderId} → ${input.receiverId} (${input.transactionType})`,
    );
  };
}

function tripleKey(orgId: string, sender: string, receiver: string, type: string): string {
  return JSON.stringify([orgId, sender, receiver, type]);
}

function idKey(orgId: string, id: string): string {
  return JSON.stringify([orgId, id]);
}
