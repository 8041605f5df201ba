import type { DataSource } from 'typeorm';
import type { CircuitState } from '@waybill/delivery';
import type { ChannelHealth, HealthReader, HealthStore, OutcomeRecord } from '../../application/engine/ports';

interface Row {
  channel_id: string;
  circuit: CircuitState;
  in_flight: number;
  waiting: number;
  throttled_until: Date | null;
  next_probe_at: Date | null;
  last_outcomes: OutcomeRecord[];
  updated_at: Date;
}

/** `channel_health`: what the owner of each channel reports of it, for any instance to answer with. */
export class ChannelHealthStore implements HealthStore, HealthReader {
  constructor(private readonly ds: DataSource) {}

  async save(rows: (ChannelHealth & { orgId: string })[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <T>(f: (r: ChannelHealth & { orgId: string }) => T): T[] => rows.map(f);
    await this.ds.query(
      `INSERT INTO channel_health (channel_id, org_id, circuit, in_flight, waiting, throttled_until, next_probe_at, last_outcomes, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[], $9::timestamptz[])
       ON CONFLICT (channel_id) DO UPDATE SET
         circuit = EXCLUDED.circuit, in_flight = EXCLUDED.in_flight, waiting = EXCLUDED.waiting, throttled_until = EXCLUDED.throttled_until,
         next_probe_at = EXCLUDED.next_probe_at, last_outcomes = EXCLUDED.last_outcomes, updated_at = EXCLUDED.updated_at
       WHERE channel_health.updated_at <= EXCLUDED.updated_at`,
      [
        col((r) => r.channelId),
        col((r) => r.orgId),
        col((r) => r.circuit),
        col((r) => r.inFlight),
        col((r) => r.waiting),
        col((r) => r.throttledUntil),
        col((r) => r.nextProbeAt),
        col((r) => JSON.stringify(r.lastOutcomes)),
        col((r) => r.updatedAt),
      ],
    );
  }

  async load(channelId: string): Promise<ChannelHealth | null> {
    const rows: Row[] = await this.ds.query('SELECT * FROM channel_health WHERE channel_id = $1', [channelId]);
    return rows[0] ? toHealth(rows[0]) : null;
  }

  /** The organisation's channels whose circuit is in one of `circuits`, as their owners last stored them. */
  async withCircuit(orgId: string, circuits: readonly CircuitState[]): Promise<ChannelHealth[]> {
    const rows: Row[] = await this.ds.query(
      'SELECT * FROM channel_health WHERE org_id = $1 AND circuit = ANY($2::text[]) ORDER BY channel_id LIMIT 1000',
      [orgId, circuits],
    );
    return rows.map(toHealth);
  }
}

function toHealth(r: Row): ChannelHealth {
  return {
    channelId: r.channel_id,
    circuit: r.circuit,
    inFlight: r.in_flight,
    waiting: r.waiting,
    throttledUntil: r.throttled_until?.toISOString() ?? null,
    nextProbeAt: r.next_probe_at?.toISOString() ?? null,
    lastOutcomes: r.last_outcomes,
    updatedAt: r.updated_at.toISOString(),
  };
}
