import { z } from 'zod';
import { Format } from '../format';

/** A secret as it travels and rests: AES-256-GCM ciphertext, never the clear value. */
export const EncryptedSecret = z.string().regex(/^enc:v1:/, 'must be an encrypted secret');

export const ChannelAuthState = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }),
  z.object({ type: z.literal('BASIC'), username: z.string(), password: EncryptedSecret }),
  z.object({ type: z.literal('BEARER'), token: EncryptedSecret }),
  z.object({
    type: z.literal('OAUTH2_CLIENT_CREDENTIALS'),
    tokenUrl: z.string(),
    clientId: z.string(),
    clientSecret: EncryptedSecret,
    scope: z.string().nullable(),
    audience: z.string().nullable(),
  }),
]);

export const RetryPolicyState = z.discriminatedUnion('strategy', [
  z.object({ strategy: z.literal('fixed'), maxRetries: z.number().int(), delayMs: z.number().int() }),
  z.object({
    strategy: z.literal('exponential'),
    initialDelayMs: z.number().int(),
    factor: z.number(),
    maxDelayMs: z.number().int(),
    maxDurationMs: z.number().int(),
  }),
]);

export const SigningSecretState = z.object({
  secret: EncryptedSecret,
  createdAt: z.iso.datetime({ offset: true }),
  /** Set on a rotated-out secret: it still signs until then. */
  expiresAt: z.iso.datetime({ offset: true }).nullable(),
});

/** A channel's full state, as `channel.upserted.v1` carries it on the compacted `waybill.channels`. */
export const ChannelState = z.object({
  id: z.string(),
  orgId: z.string(),
  /** Increases with every change: replicas ignore a state older than the one they hold. */
  version: z.number().int().positive(),
  name: z.string(),
  type: z.enum(['HTTP', 'PULL']),
  url: z.string().nullable(),
  format: Format,
  auth: ChannelAuthState,
  signing: z.object({ enabled: z.boolean(), secrets: z.array(SigningSecretState) }),
  headers: z.record(z.string(), z.string()),
  /** Headers whose values are secrets, sealed; absent on channels written before they existed. */
  secretHeaders: z.record(z.string(), EncryptedSecret).optional(),
  enabled: z.boolean(),
  timeoutMs: z.number().int(),
  retryPolicy: RetryPolicyState,
  batch: z.object({ maxItems: z.number().int(), maxWaitMs: z.number().int() }).nullable(),
  maxConcurrency: z.number().int(),
  visibilityTimeoutMs: z.number().int(),
  circuitBreaker: z.object({
    errorThresholdPercentage: z.number(),
    volumeThreshold: z.number().int(),
    resetTimeoutMs: z.number().int(),
  }),
  createdAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  /**
   * Set while the registry decides a delete (see `channel.usage-reported.v1`): routing assigns the
   * channel to no relationship meanwhile, and reports which relationships use it. Absent otherwise.
   */
  deleting: z.object({ requestId: z.string(), since: z.iso.datetime({ offset: true }) }).nullable().optional(),
});
export type ChannelState = z.infer<typeof ChannelState>;
export type ChannelAuthState = z.infer<typeof ChannelAuthState>;
export type RetryPolicyState = z.infer<typeof RetryPolicyState>;

export const ChannelUpsertedV1 = ChannelState;

/** Key orgId, on `waybill.channels`: the organisation's settings as they are now. */
export const OrgSettingsChangedV1 = z.object({
  orgId: z.string(),
  defaultInboundChannelId: z.string().nullable(),
  alertChannelId: z.string().nullable(),
});
