import type { ChannelAuthState, ChannelState } from '@waybill/contracts';

/** A channel as the API shows it: effective values, never a credential. */
export function channelView(state: ChannelState, signingSecret: string | null = null) {
  return {
    id: state.id,
    name: state.name,
    type: state.type,
    url: state.url,
    format: state.format,
    auth: authView(state.auth),
    signing: signingSecret ? { enabled: state.signing.enabled, secret: signingSecret } : { enabled: state.signing.enabled },
    headers: state.headers,
    secretHeaders: Object.keys(state.secretHeaders ?? {}),
    enabled: state.enabled,
    timeoutMs: state.timeoutMs,
    retryPolicy: state.retryPolicy,
    batch: state.batch,
    maxConcurrency: state.maxConcurrency,
    visibilityTimeoutMs: state.visibilityTimeoutMs,
    circuitBreaker: state.circuitBreaker,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
  };
}
export type ChannelView = ReturnType<typeof channelView>;

function authView(auth: ChannelAuthState) {
  switch (auth.type) {
    case 'NONE':
    case 'BEARER':
      return { type: auth.type };
    case 'BASIC':
      return { type: auth.type, username: auth.username };
    case 'OAUTH2_CLIENT_CREDENTIALS':
      return { type: auth.type, tokenUrl: auth.tokenUrl, clientId: auth.clientId, scope: auth.scope, audience: auth.audience };
    default:
      return assertNever(auth);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
