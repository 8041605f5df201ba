import type { ChannelState } from '@waybill/contracts';
import { newId } from '@waybill/platform';

/** A channel as the registry would publish it, with short settings that suit tests. */
export function channelState(orgId: string, over: Partial<ChannelState> = {}): ChannelState {
  const now = new Date().toISOString();
  return {
    id: newId('ch'),
    orgId,
    version: 1,
    name: 'Test partner',
    type: 'HTTP',
    url: null,
    format: 'JSON',
    auth: { type: 'NONE' },
    signing: { enabled: false, secrets: [] },
    headers: {},
    enabled: true,
    timeoutMs: 2_000,
    retryPolicy: { strategy: 'fixed', maxRetries: 2, delayMs: 200 },
    batch: null,
    maxConcurrency: 10,
    visibilityTimeoutMs: 60_000,
    circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}
