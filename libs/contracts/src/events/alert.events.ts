import { z } from 'zod';

/** `waybill.alerts`, key channelId. */
export const ChannelCircuitOpenedV1 = z.object({ channelId: z.string(), at: z.iso.datetime({ offset: true }), reason: z.string() });
export const ChannelCircuitClosedV1 = z.object({ channelId: z.string(), at: z.iso.datetime({ offset: true }) });
export const DeliveryExhaustedV1 = z.object({
  channelId: z.string(),
  transactionId: z.string(),
  deliveryId: z.string(),
  attempts: z.number().int(),
  at: z.iso.datetime({ offset: true }),
  lastError: z.string().nullable(),
});
