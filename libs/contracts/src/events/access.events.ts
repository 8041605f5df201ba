import { z } from 'zod';

/** `waybill.access`, key apiKeyId: every service with an HTTP surface authenticates from these. */
export const ApiKeyIssuedV1 = z.object({
  apiKeyId: z.string(),
  orgId: z.string(),
  /** SHA-256 of the key, hex. The key itself never leaves the answer that showed it. */
  keyHash: z.string().regex(/^[0-9a-f]{64}$/),
  prefix: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
});

export const ApiKeyRevokedV1 = z.object({
  apiKeyId: z.string(),
  orgId: z.string(),
  revokedAt: z.iso.datetime({ offset: true }),
});
