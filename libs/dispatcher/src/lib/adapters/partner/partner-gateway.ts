import type { ChannelState } from '@waybill/contracts';
import type { SecretBox } from '@waybill/security';
import type { PartnerRequest, RequestSecrets } from '../../domain/partner-request';
import { elapsed, ExchangeResult, PartnerClient } from './partner-client';
import { OAuthTokens, TokenError } from './oauth-tokens';

interface ClearSecrets {
  version: number;
  /** `Basic …` / `Bearer …` for those auth types. */
  authorization: string | null;
  oauthClientSecret: string | null;
  signing: { secret: string; expiresAt: number | null }[];
  /** The secret headers, in clear. */
  headers: Record<string, string>;
}

/**
 * Sends requests to a channel with its credentials, whatever request it is (a delivery, a batch,
 * an alert, a test): secrets decrypted once per channel version, not per request; OAuth2 tokens
 * fetched and cached, and fetched again once on a 401. The channel's timeout covers the whole of
 * it, token included.
 */
export class PartnerGateway {
  private readonly clear = new Map<string, ClearSecrets>();
  readonly tokens: OAuthTokens;

  constructor(
    private readonly client: PartnerClient,
    private readonly box: SecretBox,
  ) {
    this.tokens = new OAuthTokens(client);
  }

  /** Builds a request with `build` (given the channel's clear secrets) and sends it. Never throws. */
  async send(channel: ChannelState, build: (secrets: RequestSecrets) => PartnerRequest, abort?: AbortSignal): Promise<ExchangeResult> {
    const started = performance.now();
    const clear = this.secretsOf(channel);
    const now = Date.now();
    const signingSecrets = clear.signing.filter((s) => s.expiresAt === null || s.expiresAt > now).map((s) => s.secret);
    const secretHeaders = clear.headers;
    if (channel.auth.type !== 'OAUTH2_CLIENT_CREDENTIALS') {
      return this.client.post(build({ authorization: clear.authorization, signingSecrets, secretHeaders }), channel.timeoutMs, abort);
    }
    const auth = channel.auth;
    const left = () => Math.max(1, channel.timeoutMs - Math.round(performance.now() - started));
    const bearer = async (): Promise<string | ExchangeResult> => {
      try {
        return await this.tokens.token(channel.id, auth, clear.oauthClientSecret as string, left(), abort);
      } catch (err) {
        if (!(err instanceof TokenError)) throw err;
        return { exchange: { kind: 'token-error' }, durationMs: elapsed(started), excerpt: null, error: `OAuth2: ${err.message}`, retryAfter: null };
      }
    };
    const first = await bearer();
    if (typeof first !== 'string') return first;
    const result = await this.client.post(build({ authorization: `Bearer ${first}`, signingSecrets, secretHeaders }), left(), abort);
    if (result.exchange.kind !== 'answered' || result.exchange.statusCode !== 401) return withTotal(result, started);
    // The partner refused the token (revoked, rotated keys): a fresh one, once.
    this.tokens.invalidate(channel.id, first);
    const second = await bearer();
    if (typeof second !== 'string') return second;
    return withTotal(await this.client.post(build({ authorization: `Bearer ${second}`, signingSecrets, secretHeaders }), left(), abort), started);
  }

  private secretsOf(channel: ChannelState): ClearSecrets {
    const held = this.clear.get(channel.id);
    if (held && held.version === channel.version) return held;
    const open = (s: string) => this.box.decrypt(s);
    const auth = channel.auth;
    const clear: ClearSecrets = {
      version: channel.version,
      authorization:
        auth.type === 'BASIC'
          ? `Basic ${Buffer.from(`${auth.username}:${open(auth.password)}`).toString('base64')}`
          : auth.type === 'BEARER'
            ? `Bearer ${open(auth.token)}`
            : null,
      oauthClientSecret: auth.type === 'OAUTH2_CLIENT_CREDENTIALS' ? open(auth.clientSecret) : null,
      // Newest first: a partner that verifies only the first signature gets the current secret's.
      signing: channel.signing.enabled
        ? channel.signing.secrets.map((s) => ({ secret: open(s.secret), expiresAt: s.expiresAt === null ? null : Date.parse(s.expiresAt) })).reverse()
        : [],
      headers: Object.fromEntries(Object.entries(channel.secretHeaders ?? {}).map(([name, sealed]) => [name, open(sealed)])),
    };
    this.clear.set(channel.id, clear);
    return clear;
  }

  /** Forgets what it holds of a channel (deleted, or long idle). */
  forget(channelId: string): void {
    this.clear.delete(channelId);
    this.tokens.forget(channelId);
  }
}

function withTotal(result: ExchangeResult, started: number): ExchangeResult {
  return { ...result, durationMs: elapsed(started) };
}
