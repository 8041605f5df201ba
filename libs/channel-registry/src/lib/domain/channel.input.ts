import { z } from 'zod';
import { displayName, Format, safeText, textProblem } from '@waybill/contracts';
import { parseDestinationUrl } from '@waybill/security';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What an HTTP header can carry (Latin-1): anything beyond is refused, as are control characters. */
const HEADER_CHARS = /^[\x20-\x7e\x80-\xff]*$/;
/** Headers Waybill sets itself: a channel's static headers cannot override them. */
const RESERVED_HEADERS = new Set([
  'authorization', 'content-type', 'content-length', 'host', 'user-agent', 'idempotency-key', 'webhook-id',
  'webhook-timestamp', 'webhook-signature', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'expect', 'proxy-authorization',
]);
/** Static and secret headers a channel has at most, together. */
export const MAX_STATIC_HEADERS = 50;
/** The longest header name (characters). */
const MAX_HEADER_NAME = 256;
/** Largest body of `POST` and `PATCH /v1/channels` (bytes): a channel with every header at its longest fits. */
export const MAX_CHANNEL_BODY_BYTES = 512 * 1024;

/** A URL's shape (http or https, absolute, no credentials); the network rules are checked later. */
const HttpUrl = safeText()
  .max(2048)
  .superRefine((url, ctx) => {
    if (textProblem(url)) return;
    const parsed = parseDestinationUrl(url, false);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.reason });
  });

/**
 * A credential: text (a line break in a password would break every delivery, each then retried in
 * vain), at most `max` characters.
 */
const Secret = (max: number) => safeText().min(1).max(max);
/** A value sent in an HTTP header as it is: text an HTTP header can carry. */
const HeaderValue = (max: number) => safeText().max(max).regex(HEADER_CHARS, 'must hold only characters an HTTP header can carry (Latin-1)');

export const AuthInput = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }).strict(),
  z.object({ type: z.literal('BASIC'), username: safeText().min(1).max(200).regex(/^[^:]*$/, 'must not contain ":"'), password: Secret(1000) }).strict(),
  z.object({ type: z.literal('BEARER'), token: HeaderValue(4000).min(1) }).strict(),
  z
    .object({
      type: z.literal('OAUTH2_CLIENT_CREDENTIALS'),
      tokenUrl: HttpUrl,
      clientId: Secret(500),
      clientSecret: Secret(2000),
      scope: safeText().max(1000).nullish(),
      audience: safeText().max(1000).nullish(),
    })
    .strict(),
]);
export type AuthInput = z.infer<typeof AuthInput>;

/**
 * Auth as a change gives it: the credential may be left out to keep the one the channel has, as
 * long as the type stays the same (credentials cannot be read back, so they need not be resent).
 */
export const AuthChange = z.discriminatedUnion('type', [
  AuthInput.options[0],
  AuthInput.options[1].extend({ password: Secret(1000).optional() }),
  AuthInput.options[2].extend({ token: HeaderValue(4000).min(1).optional() }),
  AuthInput.options[3].extend({ clientSecret: Secret(2000).optional() }),
]);
export type AuthChange = z.infer<typeof AuthChange>;

const FixedFields = {
  maxRetries: z.number().int().min(0).max(20),
  delayMs: z.number().int().min(100).max(86_400_000),
};
const ExponentialFields = {
  initialDelayMs: z.number().int().min(100).max(86_400_000),
  factor: z.number().min(1).max(10),
  maxDelayMs: z.number().int().min(100).max(30 * 86_400_000),
  maxDurationMs: z.number().int().min(1_000).max(30 * 86_400_000),
};
export const RETRY_DEFAULTS = {
  fixed: { strategy: 'fixed' as const, maxRetries: 3, delayMs: 30_000 },
  exponential: { strategy: 'exponential' as const, initialDelayMs: 1_000, factor: 2, maxDelayMs: 3_600_000, maxDurationMs: 86_400_000 },
};

/** A retry policy as given: omitted fields take the strategy's defaults. */
export const RetryPolicyInput = z.discriminatedUnion('strategy', [
  z
    .object({
      strategy: z.literal('fixed'),
      maxRetries: FixedFields.maxRetries.default(RETRY_DEFAULTS.fixed.maxRetries),
      delayMs: FixedFields.delayMs.default(RETRY_DEFAULTS.fixed.delayMs),
    })
    .strict(),
  z
    .object({
      strategy: z.literal('exponential'),
      initialDelayMs: ExponentialFields.initialDelayMs.default(RETRY_DEFAULTS.exponential.initialDelayMs),
      factor: ExponentialFields.factor.default(RETRY_DEFAULTS.exponential.factor),
      maxDelayMs: ExponentialFields.maxDelayMs.default(RETRY_DEFAULTS.exponential.maxDelayMs),
      maxDurationMs: ExponentialFields.maxDurationMs.default(RETRY_DEFAULTS.exponential.maxDurationMs),
    })
    .strict(),
]);

/** A retry policy as a change gives it: omitted fields keep their value (same strategy) or default. */
const RetryPolicyChange = z.discriminatedUnion('strategy', [
  z.object({ strategy: z.literal('fixed'), ...FixedFields }).partial({ maxRetries: true, delayMs: true }).strict(),
  z
    .object({ strategy: z.literal('exponential'), ...ExponentialFields })
    .partial({ initialDelayMs: true, factor: true, maxDelayMs: true, maxDurationMs: true })
    .strict(),
]);
export type RetryPolicyChange = z.infer<typeof RetryPolicyChange>;

const BatchFields = { maxItems: z.number().int().min(1).max(50), maxWaitMs: z.number().int().min(0).max(60_000) };
export const BatchInput = z.object(BatchFields).strict();
const BatchChange = z.object(BatchFields).partial().strict();

const BreakerFields = {
  errorThresholdPercentage: z.number().min(1).max(100),
  volumeThreshold: z.number().int().min(1).max(10_000),
  resetTimeoutMs: z.number().int().min(1_000).max(3_600_000),
};
export const BREAKER_DEFAULTS = { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 };
export const CircuitBreakerInput = z
  .object({
    errorThresholdPercentage: BreakerFields.errorThresholdPercentage.default(BREAKER_DEFAULTS.errorThresholdPercentage),
    volumeThreshold: BreakerFields.volumeThreshold.default(BREAKER_DEFAULTS.volumeThreshold),
    resetTimeoutMs: BreakerFields.resetTimeoutMs.default(BREAKER_DEFAULTS.resetTimeoutMs),
  })
  .strict();
const CircuitBreakerChange = z.object(BreakerFields).partial().strict();

/** Header names and values, as `headers` and `secretHeaders` take them. */
const headerRecord = (value: z.ZodString) =>
  z.record(z.string(), value).superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > MAX_STATIC_HEADERS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_STATIC_HEADERS} headers` });
    const seen = new Set<string>();
    for (const name of names) {
      const lower = name.toLowerCase();
      // A name that is not a token is shown by its index: the name itself may be what cannot be printed.
      if (!HEADER_NAME.test(name) || name.length > MAX_HEADER_NAME) {
        ctx.addIssue({ code: 'custom', path: [HEADER_NAME.test(name) ? name : `#${names.indexOf(name)}`], message: `not a valid header name (a token of at most ${MAX_HEADER_NAME} characters)` });
      } else if (RESERVED_HEADERS.has(lower) || lower.startsWith('waybill-')) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by Waybill and cannot be overridden' });
      } else if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: [name], message: 'given twice (header names ignore case)' });
      seen.add(lower);
    }
  });

const Headers = headerRecord(HeaderValue(4096));

/**
 * Headers whose values are secrets (a partner's API key): write-only, encrypted at rest and in
 * events, never shown again (an answer lists their names), sent with every request like `headers`.
 */
const SecretHeaders = headerRecord(HeaderValue(4096).min(1));

/** The fields a channel can be given, each with its range. Shared by create and change. */
const ChannelFields = {
  name: displayName(200),
  type: z.enum(['HTTP', 'PULL']),
  url: HttpUrl.nullable(),
  format: Format,
  auth: AuthInput,
  signing: z.object({ enabled: z.boolean() }).strict(),
  headers: Headers,
  secretHeaders: SecretHeaders,
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
    secretHeaders: SecretHeaders.default({}),
    enabled: z.boolean().default(true),
    timeoutMs: ChannelFields.timeoutMs.default(30_000),
    retryPolicy: RetryPolicyInput.default(RETRY_DEFAULTS.fixed),
    batch: ChannelFields.batch.default(null),
    maxConcurrency: ChannelFields.maxConcurrency.default(10),
    visibilityTimeoutMs: ChannelFields.visibilityTimeoutMs.default(60_000),
    circuitBreaker: CircuitBreakerInput.default(BREAKER_DEFAULTS),
  })
  .strict();
export type CreateChannelInput = z.infer<typeof CreateChannelInput>;

/**
 * A change (`PATCH`): every field optional. Objects are merged into the channel's values (a retry
 * policy of the same strategy, the breaker, a batch, auth of the same type whose credential is left
 * out); `headers` and `secretHeaders` each replace the channel's whole set; `null` clears `batch`
 * (and `url`).
 */
export const UpdateChannelInput = z
  .object({
    ...ChannelFields,
    auth: AuthChange,
    retryPolicy: RetryPolicyChange,
    batch: BatchChange.nullable(),
    circuitBreaker: CircuitBreakerChange,
  })
  .partial()
  .strict();
export type UpdateChannelInput = z.infer<typeof UpdateChannelInput>;
