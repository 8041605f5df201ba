import type { FieldError } from '../api/client';

/**
 * The Create/Edit Channel form: its state (inputs as typed), the client-side checks — the same
 * ranges and rules as the API's, reported on the same paths (`body.url`, `body.auth.password`…) so
 * that the API's own problem+json errors land on the same fields — and the request body it makes.
 */
export type AuthType = 'NONE' | 'BASIC' | 'BEARER' | 'OAUTH2_CLIENT_CREDENTIALS';
export type Strategy = 'fixed' | 'exponential';

export interface ChannelForm {
  type: 'HTTP' | 'PULL';
  name: string;
  url: string;
  format: 'JSON' | 'XML' | 'X12';
  authType: AuthType;
  username: string;
  password: string;
  token: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  audience: string;
  timeoutMs: string;
  strategy: Strategy;
  maxRetries: string;
  delayMs: string;
  initialDelayMs: string;
  factor: string;
  maxDelayMs: string;
  maxDurationMs: string;
  batchEnabled: boolean;
  batchMaxItems: string;
  batchMaxWaitMs: string;
  maxConcurrency: string;
  visibilityTimeoutMs: string;
  signing: boolean;
  /** Static headers, one `Name: value` a line. */
  headers: string;
}

export function emptyForm(type: 'HTTP' | 'PULL'): ChannelForm {
  return {
    type,
    name: '',
    url: '',
    format: 'JSON',
    authType: 'NONE',
    username: '',
    password: '',
    token: '',
    tokenUrl: '',
    clientId: '',
    clientSecret: '',
    scope: '',
    audience: '',
    timeoutMs: '30000',
    strategy: 'fixed',
    maxRetries: '3',
    delayMs: '30000',
    initialDelayMs: '1000',
    factor: '2',
    maxDelayMs: '3600000',
    maxDurationMs: '86400000',
    batchEnabled: false,
    batchMaxItems: '10',
    batchMaxWaitMs: '1000',
    maxConcurrency: '10',
    visibilityTimeoutMs: '60000',
    signing: false,
    headers: '',
  };
}

/** What the form shows of an existing channel: every credential empty (kept unless typed again). */
export function formOf(c: {
  type: 'HTTP' | 'PULL';
  name: string;
  url: string | null;
  format: 'JSON' | 'XML' | 'X12';
  auth: { type: AuthType; username?: string; tokenUrl?: string; clientId?: string; scope?: string | null; audience?: string | null };
  timeoutMs: number;
  retryPolicy: { strategy: Strategy; [k: string]: unknown };
  batch: { maxItems: number; maxWaitMs: number } | null;
  maxConcurrency: number;
  visibilityTimeoutMs: number;
  signing: { enabled: boolean };
  headers: Record<string, string>;
}): ChannelForm {
  const f = emptyForm(c.type);
  const r = c.retryPolicy as Record<string, unknown>;
  const str = (v: unknown, d: string) => (v === undefined || v === null ? d : String(v));
  return {
    ...f,
    name: c.name,
    url: c.url ?? '',
    format: c.format,
    authType: c.auth.type,
    username: c.auth.username ?? '',
    tokenUrl: c.auth.tokenUrl ?? '',
    clientId: c.auth.clientId ?? '',
    scope: c.auth.scope ?? '',
    audience: c.auth.audience ?? '',
    timeoutMs: String(c.timeoutMs),
    strategy: c.retryPolicy.strategy,
    maxRetries: str(r.maxRetries, f.maxRetries),
    delayMs: str(r.delayMs, f.delayMs),
    initialDelayMs: str(r.initialDelayMs, f.initialDelayMs),
    factor: str(r.factor, f.factor),
    maxDelayMs: str(r.maxDelayMs, f.maxDelayMs),
    maxDurationMs: str(r.maxDurationMs, f.maxDurationMs),
    batchEnabled: c.batch !== null,
    batchMaxItems: String(c.batch?.maxItems ?? f.batchMaxItems),
    batchMaxWaitMs: String(c.batch?.maxWaitMs ?? f.batchMaxWaitMs),
    maxConcurrency: String(c.maxConcurrency),
    visibilityTimeoutMs: String(c.visibilityTimeoutMs),
    signing: c.signing.enabled,
    headers: Object.entries(c.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
  };
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED = new Set([
  'authorization', 'content-type', 'content-length', 'host', 'user-agent', 'idempotency-key', 'webhook-id', 'webhook-timestamp',
  'webhook-signature', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-authorization',
]);

/** An absolute http(s) URL without credentials (the API checks the network rules). */
export function urlProblem(value: string): string | null {
  if (value.trim() === '') return 'required';
  if (value.length > 2048) return 'at most 2048 characters';
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'not a valid URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be http or https';
  if (u.username || u.password) return 'must not contain credentials';
  return null;
}

function intIn(value: string, min: number, max: number): string | null {
  if (!/^-?\d+$/.test(value.trim())) return 'must be a whole number';
  const n = Number(value);
  return n < min || n > max ? `must be between ${min} and ${max}` : null;
}

function numberIn(value: string, min: number, max: number): string | null {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) return 'must be a number';
  return n < min || n > max ? `must be between ${min} and ${max}` : null;
}

function lengthIn(value: string, min: number, max: number, label = 'required'): string | null {
  if (value.length < min) return label;
  return value.length > max ? `at most ${max} characters` : null;
}

/** Static headers as typed; problems on `body.headers`. */
export function parseHeaders(text: string): { headers: Record<string, string>; problem: string | null } {
  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length > 50) return { headers, problem: 'at most 50 headers' };
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) return { headers, problem: `"${line}" is not "Name: value"` };
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(name)) return { headers, problem: `${name}: not a valid header name` };
    if (RESERVED.has(lower) || lower.startsWith('waybill-')) return { headers, problem: `${name}: is set by Waybill and cannot be overridden` };
    if (seen.has(lower)) return { headers, problem: `${name}: given twice` };
    seen.add(lower);
    headers[name] = value;
  }
  return { headers, problem: null };
}

/**
 * The form's problems, on the API's paths. `editing`: credentials may be left empty (the channel
 * keeps the one it has when the auth type stays the same).
 */
export function validateChannelForm(f: ChannelForm, editing = false, currentAuthType?: AuthType): FieldError[] {
  const errors: FieldError[] = [];
  const check = (path: string, problem: string | null) => {
    if (problem) errors.push({ path, message: problem });
  };
  check('body.name', lengthIn(f.name.trim(), 1, 200));
  if (f.type === 'HTTP') check('body.url', urlProblem(f.url));
  const keep = editing && currentAuthType === f.authType;
  const secret = (path: string, value: string, max: number) => check(path, keep && value === '' ? null : lengthIn(value, 1, max));
  switch (f.authType) {
    case 'BASIC':
      check('body.auth.username', lengthIn(f.username, 1, 200) ?? (f.username.includes(':') ? 'must not contain ":"' : null));
      secret('body.auth.password', f.password, 1000);
      break;
    case 'BEARER':
      secret('body.auth.token', f.token, 4000);
      break;
    case 'OAUTH2_CLIENT_CREDENTIALS':
      check('body.auth.tokenUrl', urlProblem(f.tokenUrl));
      check('body.auth.clientId', lengthIn(f.clientId, 1, 500));
      secret('body.auth.clientSecret', f.clientSecret, 2000);
      check('body.auth.scope', lengthIn(f.scope, 0, 1000));
      check('body.auth.audience', lengthIn(f.audience, 0, 1000));
      break;
    case 'NONE':
      break;
  }
  if (f.type === 'HTTP') check('body.timeoutMs', intIn(f.timeoutMs, 100, 120_000));
  if (f.strategy === 'fixed') {
    check('body.retryPolicy.maxRetries', intIn(f.maxRetries, 0, 20));
    check('body.retryPolicy.delayMs', intIn(f.delayMs, 100, 86_400_000));
  } else {
    check('body.retryPolicy.initialDelayMs', intIn(f.initialDelayMs, 100, 86_400_000));
    check('body.retryPolicy.factor', numberIn(f.factor, 1, 10));
    check('body.retryPolicy.maxDelayMs', intIn(f.maxDelayMs, 100, 30 * 86_400_000));
    check('body.retryPolicy.maxDurationMs', intIn(f.maxDurationMs, 1_000, 30 * 86_400_000));
  }
  if (f.type === 'HTTP' && f.batchEnabled) {
    check('body.batch.maxItems', intIn(f.batchMaxItems, 1, 50));
    check('body.batch.maxWaitMs', intIn(f.batchMaxWaitMs, 0, 60_000));
  }
  if (f.type === 'HTTP') check('body.maxConcurrency', intIn(f.maxConcurrency, 1, 1_000));
  if (f.type === 'PULL') check('body.visibilityTimeoutMs', intIn(f.visibilityTimeoutMs, 1_000, 43_200_000));
  if (f.type === 'HTTP') check('body.headers', parseHeaders(f.headers).problem);
  return errors;
}

/** The request body of `POST /v1/channels` (or, `editing`, of `PATCH`): only what applies to the type. */
export function channelRequest(f: ChannelForm, editing = false): Record<string, unknown> {
  const auth = (): Record<string, unknown> => {
    const omitEmpty = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => !(editing && v === '')));
    switch (f.authType) {
      case 'NONE':
        return { type: 'NONE' };
      case 'BASIC':
        return omitEmpty({ type: 'BASIC', username: f.username, password: f.password });
      case 'BEARER':
        return omitEmpty({ type: 'BEARER', token: f.token });
      case 'OAUTH2_CLIENT_CREDENTIALS':
        return {
          ...omitEmpty({ type: 'OAUTH2_CLIENT_CREDENTIALS', tokenUrl: f.tokenUrl, clientId: f.clientId, clientSecret: f.clientSecret }),
          scope: f.scope === '' ? null : f.scope,
          audience: f.audience === '' ? null : f.audience,
        };
    }
  };
  const retryPolicy =
    f.strategy === 'fixed'
      ? { strategy: 'fixed', maxRetries: Number(f.maxRetries), delayMs: Number(f.delayMs) }
      : {
          strategy: 'exponential',
          initialDelayMs: Number(f.initialDelayMs),
          factor: Number(f.factor),
          maxDelayMs: Number(f.maxDelayMs),
          maxDurationMs: Number(f.maxDurationMs),
        };
  const common = { name: f.name.trim(), format: f.format, auth: auth(), retryPolicy, signing: { enabled: f.signing } };
  if (f.type === 'PULL') {
    return { ...(editing ? {} : { type: 'PULL' }), ...common, visibilityTimeoutMs: Number(f.visibilityTimeoutMs) };
  }
  return {
    ...(editing ? {} : { type: 'HTTP' }),
    ...common,
    url: f.url.trim(),
    timeoutMs: Number(f.timeoutMs),
    batch: f.batchEnabled ? { maxItems: Number(f.batchMaxItems), maxWaitMs: Number(f.batchMaxWaitMs) } : null,
    maxConcurrency: Number(f.maxConcurrency),
    headers: parseHeaders(f.headers).headers,
  };
}
