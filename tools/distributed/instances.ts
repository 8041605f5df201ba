import type { ServiceName } from '@waybill/platform';

export const SERVICES: readonly ServiceName[] = ['channel-registry', 'relationship-routing', 'dispatcher', 'status-projection'];

/** How many instances of each service the distributed mode runs. */
export type InstanceCounts = Record<ServiceName, number>;

/** Most instances of one service: partitions bound the useful number anyway (12 by default). */
export const MAX_INSTANCES = 32;

/**
 * Reads `WAYBILL_INSTANCES`, e.g. `dispatcher=3,status-projection=2`: services not named run once.
 * Throws a message that names what is wrong.
 */
export function parseInstances(text: string | undefined): InstanceCounts {
  const counts = Object.fromEntries(SERVICES.map((s) => [s, 1])) as InstanceCounts;
  if (!text?.trim()) return counts;
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)=(\d+)$/.exec(part);
    if (!m) throw new Error(`WAYBILL_INSTANCES: "${part}" is not <service>=<count>`);
    const [, name, n] = m;
    if (!(SERVICES as readonly string[]).includes(name)) throw new Error(`WAYBILL_INSTANCES: no service "${name}" (${SERVICES.join(', ')})`);
    const count = Number(n);
    if (count < 1 || count > MAX_INSTANCES) throw new Error(`WAYBILL_INSTANCES: ${name} takes 1–${MAX_INSTANCES} instances, not ${n}`);
    counts[name as ServiceName] = count;
  }
  return counts;
}
