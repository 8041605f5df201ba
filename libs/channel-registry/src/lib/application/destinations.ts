import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, FieldError, WaybillConfig } from '@waybill/platform';
import { checkDestination, DestinationPolicy, Resolver, systemResolver } from '@waybill/security';

/**
 * The deployment's destination policy applied to the URLs a channel gives (its `url` and an OAuth2
 * `tokenUrl`): the SSRF guard of `@waybill/security`, with the policy from the configuration.
 */
@Injectable()
export class Destinations {
  readonly policy: DestinationPolicy;
  private readonly resolve: Resolver;

  constructor(@Inject(CONFIG) config: WaybillConfig) {
    this.policy = { allowPrivate: config.allowPrivateTargets, httpsOnly: config.env === 'production' };
    this.resolve = systemResolver;
  }

  /** Checks each given URL (undefined and null are skipped); the problems name their field paths. */
  async check(urls: Array<{ path: string; url: string | null | undefined }>): Promise<FieldError[]> {
    const checked = await Promise.all(
      urls.map(async ({ path, url }) => {
        if (!url) return null;
        const refused = await checkDestination(url, this.policy, this.resolve);
        return refused ? { path, message: refused } : null;
      }),
    );
    return checked.filter((p): p is FieldError => p !== null);
  }
}
