import type { ChannelAuthState } from '@waybill/contracts';
import { USER_AGENT } from '../../domain/partner-request';
import type { PartnerClient } from './partner-client';

type OAuth2 = Extract<ChannelAuthState, { type: 'OAUTH2_CLIENT_CREDENTIALS' }>;

/** A token is renewed this long before it expires, or a tenth of its life if that is shorter (ms). */
const RENEW_BEFORE_MS = 30_000;
/** The life assumed for a token whose answer says nothing of it (ms). */
const DEFAULT_LIFETIME_MS = 300_000;

/** The token endpoint gave no usable token. */
export class TokenError extends Error {}

interface Held {
  /** What the token was fetched with: a change of the channel's auth drops it. */
  fingerprint: string;
  token: string | null;
  expiresAt: number;
  pending: Promise<string> | null;
}

/**
 * OAuth2 client credentials tokens, one per channel: fetched from the partner's token URL, kept
 * until shortly before they expire, and fetched once for all the deliveries that need one at the
 * same moment (single flight). A token the partner refused (401) is dropped and fetched again.
 */
export class OAuthTokens {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly client: PartnerClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** The channel's current token; throws {@link TokenError} when the endpoint gives none. */
  async token(channelId: string, auth: OAuth2, clientSecret: string, timeoutMs: number, abort?: AbortSignal): Promise<string> {
    const fingerprint = `${auth.tokenUrl}\n${auth.clientId}\n${auth.clientSecret}\n${auth.scope ?? ''}\n${auth.audience ?? ''}`;
    let held = this.held.get(channelId);
    if (!held || held.fingerprint !== fingerprint) {
      held = { fingerprint, token: null, expiresAt: 0, pending: null };
      this.held.set(channelId, held);
    }
    if (held.token && held.expiresAt > this.now()) return held.token;
    let pending = held.pending;
    if (!pending) {
      const entry = held;
      pending = entry.pending = this.fetch(auth, clientSecret, timeoutMs, abort).then(
        ({ token, lifetimeMs }) => {
          entry.token = token;
          entry.expiresAt = this.now() + lifetimeMs - Math.min(RENEW_BEFORE_MS, lifetimeMs / 10);
          entry.pending = null;
          return token;
        },
        (err: unknown) => {
          entry.pending = null;
          throw err;
        },
      );
    }
    return pending;
  }

  /** Drops `token` (the partner answered 401 with it), so that the next call fetches a new one. */
  invalidate(channelId: string, token: string): void {
    const held = this.held.get(channelId);
    if (held?.token === token) {
      held.token = null;
      held.expiresAt = 0;
    }
  }

  forget(channelId: string): void {
    this.held.delete(channelId);
  }

  private async fetch(auth: OAuth2, clientSecret: string, timeoutMs: number, abort?: AbortSignal): Promise<{ token: string; lifetimeMs: number }> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    if (auth.audience) form.set('audience', auth.audience);
    // RFC 6749 §2.3.1: client id and secret form-encoded, then HTTP Basic.
    const basic = Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    let answer;
    try {
      answer = await this.client.postForAnswer(
        {
          url: auth.tokenUrl,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            authorization: `Basic ${basic}`,
            'user-agent': USER_AGENT,
          },
          body: form.toString(),
        },
        timeoutMs,
        abort,
      );
    } catch (err) {
      throw new TokenError(`the token endpoint did not answer: ${(err as Error).message}`);
    }
    if (answer.statusCode < 200 || answer.statusCode > 299) {
      throw new TokenError(`the token endpoint answered ${answer.statusCode}`);
    }
    let body: { access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(answer.body);
    } catch {
      throw new TokenError('the token endpoint answered something other than JSON');
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') throw new TokenError('the token endpoint answered no access_token');
    const expiresIn = Number(body.expires_in);
    const lifetimeMs = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn * 1000 : (jwtLifetimeMs(body.access_token, this.now()) ?? DEFAULT_LIFETIME_MS);
    return { token: body.access_token, lifetimeMs };
  }
}

/** The time left until a JWT's `exp`, when the token is a JWT that has one. */
function jwtLifetimeMs(token: string, now: number): number | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const exp = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' && exp * 1000 > now ? exp * 1000 - now : null;
  } catch {
    return null;
  }
}
