import { buildConnector } from 'undici';
import { assertConnectable, guardedLookup } from './destination-guard';

/**
 * An undici connector that applies the SSRF guard at connect time: IP literals and local names are
 * refused before any socket opens, and names are resolved through {@link guardedLookup}, so the
 * address connected to is the address checked (no DNS rebinding between check and connect).
 *
 * ```ts
 * new Agent({ connect: guardedConnector(config.allowPrivateTargets, { timeout: 10_000 }) })
 * ```
 * A refused connection fails with `DestinationRefusedError` (`code: 'EDESTINATIONREFUSED'`).
 */
export function guardedConnector(allowPrivate: boolean, options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector({ ...options, ...(allowPrivate ? {} : { lookup: guardedLookup(false) }) } as buildConnector.BuildOptions);
  return (opts, callback) => {
    try {
      assertConnectable(opts.hostname, allowPrivate);
    } catch (err) {
      callback(err as Error, null);
      return;
    }
    connect(opts, callback);
  };
}
