import type { ChannelAuthState, ChannelState } from '@waybill/contracts';
import type { AuthInput, CreateChannelInput, UpdateChannelInput } from './channel.input';

export interface FieldProblem {
  path: string;
  message: string;
}

/** What the rules need from the outside world, passed in so they stay pure. */
export interface ChannelDeps {
  /** Encrypts a credential for rest and transit. */
  seal(secret: string): string;
  /** A fresh `whsec_…` signing secret, in clear. */
  newSigningSecret(): string;
}

/** Structural URL rules: a push channel needs an http(s) URL without credentials; a pull channel none. */
export function checkUrl(type: 'HTTP' | 'PULL', url: string | null | undefined, production: boolean): FieldProblem[] {
  if (type === 'PULL') {
    return url ? [{ path: 'body.url', message: 'a PULL channel has no url' }] : [];
  }
  if (!url) return [{ path: 'body.url', message: 'an HTTP channel needs a url' }];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [{ path: 'body.url', message: 'not a valid URL' }];
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return [{ path: 'body.url', message: 'must be http or https' }];
  }
  if (production && parsed.protocol !== 'https:') return [{ path: 'body.url', message: 'must be https in production' }];
  if (parsed.username || parsed.password) {
    return [{ path: 'body.url', message: 'must not carry credentials; use auth instead' }];
  }
  return [];
}

export function sealAuth(auth: AuthInput, deps: ChannelDeps): ChannelAuthState {
  switch (auth.type) {
    case 'NONE':
      return { type: 'NONE' };
    case 'BASIC':
      return { type: 'BASIC', username: auth.username, password: deps.seal(auth.password) };
    case 'BEARER':
      return { type: 'BEARER', token: deps.seal(auth.token) };
    case 'OAUTH2_CLIENT_CREDENTIALS':
      return {
        type: 'OAUTH2_CLIENT_CREDENTIALS',
        tokenUrl: auth.tokenUrl,
        clientId: auth.clientId,
        clientSecret: deps.seal(auth.clientSecret),
        scope: auth.scope ?? null,
        audience: auth.audience ?? null,
      };
    default:
      return assertNever(auth);
  }
}

/** A new channel's full state, and its signing secret in clear when signing is on (shown once, in the 201). */
export function createChannel(
  input: CreateChannelInput,
  ids: { id: string; orgId: string; now: Date },
  deps: ChannelDeps,
): { state: ChannelState; signingSecret: string | null } {
  const now = ids.now.toISOString();
  const signingSecret = input.signing.enabled ? deps.newSigningSecret() : null;
  const state: ChannelState = {
    id: ids.id,
    orgId: ids.orgId,
    version: 1,
    name: input.name,
    type: input.type,
    url: input.type === 'PULL' ? null : (input.url ?? null),
    format: input.format,
    auth: sealAuth(input.auth, deps),
    signing: {
      enabled: input.signing.enabled,
      secrets: signingSecret ? [{ secret: deps.seal(signingSecret), createdAt: now, expiresAt: null }] : [],
    },
    headers: input.headers,
    enabled: input.enabled,
    timeoutMs: input.timeoutMs,
    retryPolicy: input.retryPolicy,
    batch: input.batch,
    maxConcurrency: input.maxConcurrency,
    visibilityTimeoutMs: input.visibilityTimeoutMs,
    circuitBreaker: input.circuitBreaker,
    createdAt: now,
    updatedAt: now,
  };
  return { state, signingSecret };
}

/** Applies a change; turning signing on issues a secret if the channel has none. */
export function updateChannel(
  state: ChannelState,
  change: UpdateChannelInput,
  now: Date,
  deps: ChannelDeps,
): { state: ChannelState; signingSecret: string | null } {
  const at = now.toISOString();
  let signingSecret: string | null = null;
  let signing = state.signing;
  if (change.signing) {
    const secrets = [...state.signing.secrets];
    if (change.signing.enabled && secrets.length === 0) {
      signingSecret = deps.newSigningSecret();
      secrets.push({ secret: deps.seal(signingSecret), createdAt: at, expiresAt: null });
    }
    signing = { enabled: change.signing.enabled, secrets };
  }
  const type = change.type ?? state.type;
  const next: ChannelState = {
    ...state,
    ...(change.name !== undefined && { name: change.name }),
    type,
    url: type === 'PULL' ? null : change.url !== undefined ? change.url : state.url,
    ...(change.format !== undefined && { format: change.format }),
    ...(change.auth !== undefined && { auth: sealAuth(change.auth, deps) }),
    signing,
    ...(change.headers !== undefined && { headers: change.headers }),
    ...(change.enabled !== undefined && { enabled: change.enabled }),
    ...(change.timeoutMs !== undefined && { timeoutMs: change.timeoutMs }),
    ...(change.retryPolicy !== undefined && { retryPolicy: change.retryPolicy }),
    ...(change.batch !== undefined && { batch: change.batch }),
    ...(change.maxConcurrency !== undefined && { maxConcurrency: change.maxConcurrency }),
    ...(change.visibilityTimeoutMs !== undefined && { visibilityTimeoutMs: change.visibilityTimeoutMs }),
    ...(change.circuitBreaker !== undefined && { circuitBreaker: change.circuitBreaker }),
    version: state.version + 1,
    updatedAt: at,
  };
  return { state: next, signingSecret };
}

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
