import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import send from '@fastify/send';

/**
 * The console's Content-Security-Policy: everything from the API's own origin, no inline script
 * or style, no eval, no framing. The console's build has no inline code (Vite emits files), and
 * its chart draws on a canvas and sets styles through the DOM, which `style-src 'self'` allows.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every answer of the console's files. */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Hashed build output: the name changes with the content, so it may be kept for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Everything else (index.html above all): asked again each time, so a new build shows at once. */
const REVALIDATE = 'no-cache';

/**
 * The API's own paths, which the console never answers (not even its client-side routes' fallback):
 * an unknown one there is the API's 404.
 */
export function isApiPath(url: string): boolean {
  const p = url.split('?')[0];
  return /^\/(v1|health|metrics|openapi\.json|docs|admin)(\/|$)/.test(p) || p === '/v1';
}

/**
 * Serves the console's built files from `dir` (`apps/console/dist`) on raw Node requests: a file
 * if there is one (`@fastify/send`: ETag, ranges, no dotfiles, no path outside `dir`), else
 * `index.html` for a client route (a path whose last segment has no dot), else 404. Answers
 * `false` without touching `res` for the API's paths, which the caller answers.
 */
export function consoleFiles(dir: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const root = path.resolve(dir);
  return async (req, res) => {
    const url = req.url ?? '/';
    if (isApiPath(url)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...CONSOLE_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return true;
    }
    if (!existsSync(path.join(root, 'index.html'))) {
      res
        .writeHead(503, { ...CONSOLE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': REVALIDATE })
        .end('The web console is not built. Run `npm install` (it builds apps/console), then reload.\n');
      return true;
    }
    const pathname = url.split('?')[0];
    // Every built file has an extension; a path whose last segment has none is a client route.
    const file = path.posix.basename(pathname).includes('.') ? pathname : '/index.html';
    const result = await send(req, file, { root, index: false, dotfiles: 'deny', cacheControl: false });
    const cache = file.startsWith('/assets/') ? IMMUTABLE : REVALIDATE;
    res.writeHead(result.statusCode, { ...result.headers, ...CONSOLE_HEADERS, 'cache-control': cache });
    result.stream.pipe(res);
    return true;
  };
}
