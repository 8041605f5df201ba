import { z } from 'zod';
import { Format, identifier, RetryPolicyState } from '@waybill/contracts';

/** The shapes the registry answers with, for `/openapi.json` (and for tests that hold answers to them). */

const iso = z.iso.datetime({ offset: true });

export const OrganizationCreated = z.object({
  id: z.string(),
  name: z.string(),
  apiKey: z.string().describe('The organisation’s first API key. Shown once: store it now.'),
  createdAt: iso,
});

export const OrganizationResponse = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: iso,
  apiKey: z
    .object({ id: z.string(), prefix: z.string().describe('The key’s first characters.') })
    .describe('The key this call was made with (never the key itself).'),
});

export const ApiKeyResponse = z.object({
  id: z.string(),
  prefix: z.string().describe('The key’s first characters, to tell keys apart.'),
  createdAt: iso,
  lastUsedAt: iso.nullable().describe('When the key last authenticated a call (updated within about a second).'),
});

export const ApiKeyIssued = z.object({
  id: z.string(),
  apiKey: z.string().describe('The new key. Shown once: store it now.'),
  prefix: z.string(),
  createdAt: iso,
});

const AuthView = z.discriminatedUnion('type', [
  z.object({ type: z.literal('NONE') }),
  z.object({ type: z.literal('BASIC'), username: z.string() }),
  z.object({ type: z.literal('BEARER') }),
  z.object({
    type: z.literal('OAUTH2_CLIENT_CREDENTIALS'),
    tokenUrl: z.string(),
    clientId: z.string(),
    scope: z.string().nullable(),
    audience: z.string().nullable(),
  }),
]);

export const ChannelResponse = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(['HTTP', 'PULL']),
  url: z.string().nullable(),
  format: Format,
  auth: AuthView.describe('The auth without its credential: credentials are write-only.'),
  signing: z.object({
    enabled: z.boolean(),
    secret: z.string().optional().describe('Only in the answer that created the secret (the 201, or the PATCH that turned signing on).'),
  }),
  headers: z.record(z.string(), z.string()),
  secretHeaders: z.array(z.string()).describe('The names of the secret headers that are set; their values are write-only.'),
  enabled: z.boolean(),
  timeoutMs: z.number().int(),
  retryPolicy: RetryPolicyState,
  batch: z.object({ maxItems: z.number().int(), maxWaitMs: z.number().int() }).nullable(),
  maxConcurrency: z.number().int(),
  visibilityTimeoutMs: z.number().int(),
  circuitBreaker: z.object({ errorThresholdPercentage: z.number(), volumeThreshold: z.number().int(), resetTimeoutMs: z.number().int() }),
  createdAt: iso,
  updatedAt: iso,
});

export const SigningSecretResponse = z.object({
  secret: z.string().describe('`whsec_` and the base64 of the key bytes (Standard Webhooks).'),
  createdAt: iso,
});

export const SigningSecretRotated = SigningSecretResponse.extend({
  previousSecretExpiresAt: iso.nullable().describe('Until then, deliveries carry a signature by the previous secret too.'),
});

export const SettingsResponse = z.object({
  defaultInboundChannelId: z.string().nullable(),
  alertChannelId: z.string().nullable(),
});

export const SetChannelSetting = z
  .object({ channelId: identifier().nullable().describe('One of the organisation’s channels, or null to clear.') })
  .strict();
