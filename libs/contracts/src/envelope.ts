import { z } from 'zod';

/**
 * The one envelope every event travels in. `type` carries its version (`delivery.attempted.v1`);
 * a change that breaks readers is a new type.
 */
export const EnvelopeSchema = z.object({
  eventId: z.uuid(),
  type: z.string().min(1),
  occurredAt: z.iso.datetime({ offset: true }),
  orgId: z.string().min(1),
  key: z.string().min(1),
  data: z.unknown(),
});

export interface EventEnvelope<TType extends string = string, TData = unknown> {
  eventId: string;
  type: TType;
  occurredAt: string;
  orgId: string;
  key: string;
  data: TData;
}
