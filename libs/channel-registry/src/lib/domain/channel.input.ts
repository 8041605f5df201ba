import { z } from 'zod';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers Waybill sets itself: a channel's static headers cannot override them. */
const RESERVED_HEADERS = new Set([
  'authorization', 'content-type', 'content-length', 'host', 'user-agent', 'idempotency-key', 'webhook-id',
  'webhook-timestamp', 'webhook-signature', 'transfer-encoding', 'connection',
]);

export const AuthInput = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }).strict(),
  z.object({ type: z.literal('BASIC'), username: z.string().min(1).max(200), password: z.string().min(1).max(1000) }).strict(),
  z.object({ type: z.literal('BEARER'), token: z.string().min(1).max(4000) }).strict(),
  z
    .object({
      type: z.literal('OAUTH2_CLIENT_CREDENTIALS'),
      tokenUrl: z.string().max(2048),
      clientId: z.string().min(1).max(500),
      clientSecret: z.string().min(1).max(2000),
      scope: z.string().max(1000).nullish(),
      audience: z.string().max(1000).nullish(),
    })
    .strict(),
]);
export type AuthInput = z.infer<typeof AuthInput>;

export const RetryPolicyInput = z.discriminatedUnion('strategy', [
  z
    .object({
      strategy: z.literal('fixed'),
      maxRetries: z.number().int().min(0).max(20).default(3),
      delayMs: z.number().int().min(100).max(86_400_000).default(30_000),
    })
    .strict(),
  z
    .object({
      strategy: z.literal('exponential'),
      initialDelayMs: z.number().int().min(100).max(86_400_000).default(1_000),
      factor: z.number().min(1).max(10).default(2),
      maxDelayMs: z.number().int().min(100).max(86_400_000).default(3_600_000),
      maxDurationMs: z.number().int().min(1_000).max(30 * 86_400_000).default(86_400_000),
    })
    .strict(),
]);

export const BatchInput = z
  .object({ maxItems: z.number().int().min(1).max(50), maxWaitMs: z.number().int().min(0).max(60_000) })
  .strict();

export const CircuitBreakerInput = z
  .object({
    errorThresholdPercentage: z.number().min(1).max(100).default(50),
    volumeThreshold: z.number().int().min(1).max(10_000).default(10),
    resetTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
  })
  .strict();

const Headers = z
  .record(z.string(), z.string().max(4096))
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid header name' });
      else if (RESERVED_HEADERS.has(name.toLowerCase()) || /^waybill-/i.test(name)) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Waybill and cannot be overridden' });
      }
    }
  });

/** The fields a channel can be given, each with its range. Shared by create and change. */
const ChannelFields = {
  name: z.string().trim().min(1).max(200),
  type: z.enum(['HTTP', 'PULL']),
  url: z.string().max(2048).nullable(),
  format: z.enum(['JSON', 'XML', 'X12']),
  auth: AuthInput,
  signing: z.object({ enabled: z.boolean() }).strict(),
  headers: Headers,
  enabled: z.boolean(),
  timeoutMs: z.number().int().min(100).max(120_000),
  retryPolicy: RetryPolicyInput,
  batch: BatchInput.nullable(),
  maxConcurrency: z.number().int().min(1).max(1_000),
  visibilityTimeoutMs: z.number().int().min(1_000).max(43_200_000),
  circuitBreaker: CircuitBreakerInput,
};

export const CreateChannelInput = z
  .object({
    ...ChannelFields,
    type: ChannelFields.type.default('HTTP'),
    url: ChannelFields.url.optional(),
    format: ChannelFields.format.default('JSON'),
    auth: AuthInput.default({ type: 'NONE' }),
    signing: ChannelFields.signing.default({ enabled: false }),
    headers: Headers.default({}),
    enabled: z.boolean().default(true),
    timeoutMs: ChannelFields.timeoutMs.default(30_000),
    retryPolicy: RetryPolicyInput.default({ strategy: 'fixed', maxRetries: 3, delayMs: 30_000 }),
    batch: ChannelFields.batch.default(null),
    maxConcurrency: ChannelFields.maxConcurrency.default(10),
    visibilityTimeoutMs: ChannelFields.visibilityTimeoutMs.default(60_000),
    circuitBreaker: CircuitBreakerInput.default({ errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 }),
  })
  .strict();
export type CreateChannelInput = z.infer<typeof CreateChannelInput>;

export const UpdateChannelInput = z.object(ChannelFields).partial().strict();
export type UpdateChannelInput = z.infer<typeof UpdateChannelInput>;
