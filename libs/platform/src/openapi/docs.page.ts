import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The browsable docs: Swagger UI from the `swagger-ui-dist` package, served by the process itself
 * (no CDN: it works offline and behind a firewall), reading `/openapi.json` from the same origin.
 */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Waybill API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="docs"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

export const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true, tryItOutEnabled: false });\n`;

const cache = new Map<string, Buffer>();

/** One of the page's static files, or null when the name is not one of them. */
export function docsAsset(name: string): { body: Buffer; contentType: string } | null {
  const contentType = ASSETS[name];
  if (!contentType) return null;
  let body = cache.get(name);
  if (!body) {
    const dir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
    body = readFileSync(path.join(dir, name));
    cache.set(name, body);
  }
  return { body, contentType };
}
