import type { ApiClient } from '../http/api-client';

/** Runs `task` over `items`, at most `width` at a time; the results in the items' order. */
export async function mapInPool<T, R>(items: readonly T[], width: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

/**
 * Polls `GET /v1/transactions/{id}` of every id (those not there yet only) until each shows
 * `status`, as a user checking them one by one would. Rejects after `timeoutMs` with how many are
 * in which status, and a few of the late ones.
 */
export async function waitForAllStatus(api: ApiClient, ids: readonly string[], status: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ids);
  let last: Array<readonly [string, string]> = [];
  for (;;) {
    last = await mapInPool([...pending], 10, async (id) => {
      const res = await api.get(`/v1/transactions/${id}`);
      return [id, res.status === 200 ? String(res.body?.status) : `HTTP ${res.status}`] as const;
    });
    for (const [id, s] of last) if (s === status) pending.delete(id);
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const byStatus: Record<string, number> = {};
      for (const [, s] of last) if (s !== status) byStatus[s] = (byStatus[s] ?? 0) + 1;
      const late = last.filter(([id]) => pending.has(id)).slice(0, 5);
      throw new Error(
        `${pending.size} of ${ids.length} transactions not ${status} after ${timeoutMs} ms: ${JSON.stringify(byStatus)}; e.g. ${JSON.stringify(late)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
