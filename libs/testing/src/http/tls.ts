import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A self-signed certificate for `localhost` (and its key), for tests that need a partner over
 * TLS: a client trusts it by taking `cert` as its CA. Test material only: it protects nothing.
 */
export function localhostTls(): { cert: string; key: string } {
  const dir = path.join(__dirname, 'fixtures');
  return { cert: readFileSync(path.join(dir, 'localhost.cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'localhost.key.pem'), 'utf8') };
}
