import type { ChannelAuthState, ChannelState, RetryPolicyState } from '@waybill/contracts';
import { parseDestinationUrl } from '@waybill/security';
import {
  AuthChange, AuthInput, CreateChannelInput, MAX_STATIC_HEADERS, RETRY_DEFAULTS, RetryPolicyChange, UpdateChannelInput,
} from './channel.input';

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

/** How long a rotated-out signing secret keeps signing (API.md: "for 24 h both are used"). */
export const SIGNING_OVERLAP_MS = 24 * 3600 * 1000;
/** Signing secrets a channel keeps at most (the current one and those still overlapping). */
export const MAX_SIGNING_SECRETS = 5;

/** Structural URL rules: a push channel needs an http(s) URL without credentials; a pull channel none. */
export function checkUrl(type: 'HTTP' | 'PULL', url: string | null | undefined, production: boolean): FieldProblem[] {
  if (type === 'PULL') {
    return url ? [{ path: 'body.url', message: 'a PULL channel has no url' }] : [];
  }
  if (!url) return [{ path: 'body.url', message: 'an HTTP channel needs a url' }];
  const parsed = parseDestinationUrl(url, production);
  return parsed.ok ? [] : [{ path: 'body.url', message: parsed.reason }];
}

/** A policy's fields that only make sense together. */
export function checkRetryPolicy(policy: RetryPolicyState): FieldProblem[] {
  if (policy.strategy === 'exponential' && policy.maxDelayMs < policy.initialDelayMs) {
    return [{ path: 'body.retryPolicy.maxDelayMs', message: `must be at least initialDelayMs (${policy.initialDelayMs})` }];
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
    secretHeaders: sealHeaders(input.secretHeaders, deps),
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

/** Seals each secret header's value. */
function sealHeaders(headers: Record<string, string>, deps: ChannelDeps): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, deps.seal(value)]));
}

/** The problems of a new channel beyond its fields' own ranges (URL by type, retry policy, headers). */
export function checkCreate(input: CreateChannelInput, production: boolean): FieldProblem[] {
  return [...checkUrl(input.type, input.url, production), ...checkRetryPolicy(input.retryPolicy), ...checkHeaderSets(input.headers, input.secretHeaders)];
}

/**
 * `headers` and `secretHeaders` together: a name is in one of them only (names ignore case), and
 * there are at most {@link MAX_STATIC_HEADERS} in all.
 */
export function checkHeaderSets(headers: Record<string, string>, secretHeaders: Record<string, string>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const plain = new Set(Object.keys(headers).map((n) => n.toLowerCase()));
  for (const name of Object.keys(secretHeaders)) {
    if (plain.has(name.toLowerCase())) problems.push({ path: `body.secretHeaders.${name}`, message: 'is also a plain header: a header is either in headers or in secretHeaders' });
  }
  const count = Object.keys(headers).length + Object.keys(secretHeaders).length;
  if (count > MAX_STATIC_HEADERS) problems.push({ path: 'body.secretHeaders', message: `at most ${MAX_STATIC_HEADERS} headers and secret headers together` });
  return problems;
}

/** A URL's origin (scheme, host and port, as the URL standard normalises them), or null for none. */
export function originOf(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/**
 * Credentials stay with the destination they were given for (API.md): a change that sends the
 * channel's requests to another origin (`url`, or the channel turned from PULL to HTTP), or its
 * OAuth2 token requests to another `tokenUrl`, must carry the credentials that would go there —
 * `auth` with its credential, and `secretHeaders` — else each is named in a 422. Credentials may
 * always be dropped instead (`auth: { type: "NONE" }`, `secretHeaders: {}`). The same origin keeps them.
 */
export function credentialsLeftBehind(state: ChannelState, change: UpdateChannelInput): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const type = change.type ?? state.type;
  const url = type === 'PULL' ? null : change.url !== undefined ? change.url : state.url;
  const moves = url !== null && originOf(url) !== originOf(state.url);
  const authGiven = change.auth !== undefined && (change.auth.type !== state.auth.type || missingCredential(change.auth) === null);
  if (moves && state.auth.type !== 'NONE' && !authGiven) {
    problems.push({
      path: 'body.auth',
      message: `must be given again, with its credential, when the url moves to another origin (${originOf(url)}): credentials stay with the destination they were given for`,
    });
  }
  const current = state.auth;
  if (
    current.type === 'OAUTH2_CLIENT_CREDENTIALS' &&
    change.auth?.type === 'OAUTH2_CLIENT_CREDENTIALS' &&
    change.auth.tokenUrl !== current.tokenUrl &&
    change.auth.clientSecret === undefined &&
    !problems.length
  ) {
    problems.push({ path: 'body.auth', message: 'must carry clientSecret when tokenUrl changes: the client secret stays with the token endpoint it was given for' });
  }
  if (moves && Object.keys(state.secretHeaders ?? {}).length > 0 && change.secretHeaders === undefined) {
    problems.push({ path: 'body.secretHeaders', message: `must be given again when the url moves to another origin (${originOf(url)}), or {} to drop them` });
  }
  return problems;
}

/**
 * The problems of a change, judged against the channel as it is: the URL its type needs once the
 * change applies, a credential left out while the auth type changes, a batch turned on without
 * both of its fields, a retry policy whose fields contradict each other once merged.
 */
export function checkChange(state: ChannelState, change: UpdateChannelInput, production: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const type = change.type ?? state.type;
  if (type === 'HTTP') {
    const url = change.url !== undefined ? change.url : state.url;
    if (change.url !== undefined || change.type !== undefined || !url) problems.push(...checkUrl('HTTP', url, production));
  } else if (change.url) {
    problems.push({ path: 'body.url', message: 'a PULL channel has no url' });
  }
  if (change.auth && change.auth.type !== state.auth.type) {
    const missing = missingCredential(change.auth);
    if (missing) problems.push({ path: `body.auth.${missing}`, message: `is required when the auth type changes to ${change.auth.type}` });
  }
  if (change.batch && !state.batch) {
    for (const field of ['maxItems', 'maxWaitMs'] as const) {
      if (change.batch[field] === undefined) problems.push({ path: `body.batch.${field}`, message: 'is required when batching is turned on' });
    }
  }
  if (change.retryPolicy) problems.push(...checkRetryPolicy(mergeRetryPolicy(state.retryPolicy, change.retryPolicy)));
  if (change.headers !== undefined || change.secretHeaders !== undefined) {
    // Only the names of the secret headers the channel keeps matter here, not their sealed values.
    problems.push(...checkHeaderSets(change.headers ?? state.headers, change.secretHeaders ?? (state.secretHeaders ?? {})));
  }
  return problems;
}

function missingCredential(auth: AuthChange): string | null {
  switch (auth.type) {
    case 'NONE':
      return null;
    case 'BASIC':
      return auth.password === undefined ? 'password' : null;
    case 'BEARER':
      return auth.token === undefined ? 'token' : null;
    case 'OAUTH2_CLIENT_CREDENTIALS':
      return auth.clientSecret === undefined ? 'clientSecret' : null;
    default:
      return assertNever(auth);
  }
}

/** Same strategy: the change's fields over the current ones; another strategy: its defaults under the change. */
export function mergeRetryPolicy(current: RetryPolicyState, change: RetryPolicyChange): RetryPolicyState {
  const base = current.strategy === change.strategy ? current : RETRY_DEFAULTS[change.strategy];
  return { ...base, ...definedOnly(change) } as RetryPolicyState;
}

/** Auth of the same type keeps the sealed credential the change leaves out (see {@link checkChange}). */
function mergeAuth(current: ChannelAuthState, change: AuthChange, deps: ChannelDeps): ChannelAuthState {
  const same = current.type === change.type ? current : null;
  switch (change.type) {
    case 'NONE':
      return { type: 'NONE' };
    case 'BASIC':
      return {
        type: 'BASIC',
        username: change.username,
        password: change.password !== undefined ? deps.seal(change.password) : (same as Extract<ChannelAuthState, { type: 'BASIC' }>).password,
      };
    case 'BEARER':
      return { type: 'BEARER', token: change.token !== undefined ? deps.seal(change.token) : (same as Extract<ChannelAuthState, { type: 'BEARER' }>).token };
    case 'OAUTH2_CLIENT_CREDENTIALS':
      return {
        type: 'OAUTH2_CLIENT_CREDENTIALS',
        tokenUrl: change.tokenUrl,
        clientId: change.clientId,
        clientSecret:
          change.clientSecret !== undefined
            ? deps.seal(change.clientSecret)
            : (same as Extract<ChannelAuthState, { type: 'OAUTH2_CLIENT_CREDENTIALS' }>).clientSecret,
        scope: change.scope ?? null,
        audience: change.audience ?? null,
      };
    default:
      return assertNever(change);
  }
}

/**
 * Applies a change (checked first with {@link checkChange}); turning signing on issues a secret if
 * the channel has none, returned in clear for the answer.
 */
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
    if (change.signing.enabled && !secrets.some((s) => s.expiresAt === null)) {
      signingSecret = deps.newSigningSecret();
      secrets.push({ secret: deps.seal(signingSecret), createdAt: at, expiresAt: null });
    }
    signing = { enabled: change.signing.enabled, secrets };
  }
  const type = change.type ?? state.type;
  const batch =
    change.batch === undefined ? state.batch : change.batch === null ? null : ({ ...state.batch, ...definedOnly(change.batch) } as ChannelState['batch']);
  const next: ChannelState = {
    ...state,
    ...(change.name !== undefined && { name: change.name }),
    type,
    url: type === 'PULL' ? null : change.url !== undefined ? change.url : state.url,
    ...(change.format !== undefined && { format: change.format }),
    ...(change.auth !== undefined && { auth: mergeAuth(state.auth, change.auth, deps) }),
    signing,
    ...(change.headers !== undefined && { headers: change.headers }),
    ...(change.secretHeaders !== undefined && { secretHeaders: sealHeaders(change.secretHeaders, deps) }),
    ...(change.enabled !== undefined && { enabled: change.enabled }),
    ...(change.timeoutMs !== undefined && { timeoutMs: change.timeoutMs }),
    ...(change.retryPolicy !== undefined && { retryPolicy: mergeRetryPolicy(state.retryPolicy, change.retryPolicy) }),
    batch,
    ...(change.maxConcurrency !== undefined && { maxConcurrency: change.maxConcurrency }),
    ...(change.visibilityTimeoutMs !== undefined && { visibilityTimeoutMs: change.visibilityTimeoutMs }),
    ...(change.circuitBreaker !== undefined && { circuitBreaker: { ...state.circuitBreaker, ...definedOnly(change.circuitBreaker) } }),
    version: state.version + 1,
    updatedAt: at,
  };
  return { state: next, signingSecret };
}

/** True when `next` differs from `state` in anything but its version and time (a no-op change writes nothing). */
export function changesSomething(state: ChannelState, next: ChannelState): boolean {
  const strip = ({ version: _v, updatedAt: _u, ...rest }: ChannelState) => rest;
  return canonical(strip(state)) !== canonical(strip(next));
}

/** The signing secret a partner should configure now: the newest one that does not expire. */
export function currentSigningSecret(state: ChannelState): string | null {
  const current = [...state.signing.secrets].reverse().find((s) => s.expiresAt === null);
  return current?.secret ?? null;
}

/**
 * Rotation: a new secret signs from now on; every secret still current gets `expiresAt` = now +
 * 24 h, during which the dispatcher signs with both (the partner switches over in its own time).
 * Secrets already expired are dropped, and at most {@link MAX_SIGNING_SECRETS} are kept.
 */
export function rotateSigningSecret(state: ChannelState, now: Date, deps: ChannelDeps): { state: ChannelState; signingSecret: string } {
  const at = now.toISOString();
  const until = new Date(now.getTime() + SIGNING_OVERLAP_MS).toISOString();
  const signingSecret = deps.newSigningSecret();
  const kept = state.signing.secrets
    .filter((s) => s.expiresAt === null || Date.parse(s.expiresAt) > now.getTime())
    .map((s) => (s.expiresAt === null ? { ...s, expiresAt: until } : s));
  const secrets = [...kept, { secret: deps.seal(signingSecret), createdAt: at, expiresAt: null }].slice(-MAX_SIGNING_SECRETS);
  return {
    state: { ...state, signing: { ...state.signing, secrets }, version: state.version + 1, updatedAt: at },
    signingSecret,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
