import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(fileURLToPath(import.meta.url));
const API = process.env.WAYBILL_API ?? 'http://127.0.0.1:3000';

/**
 * The console is static files that Waybill serves at `/` (see libs/platform/src/http/console-files.ts).
 * Nothing is inlined into index.html or into data: URLs, so its strict CSP holds; `npm run
 * console:dev` serves it with hot reload and passes the API through to a running Waybill.
 */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.join(here, 'dist'),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    proxy: Object.fromEntries(['/v1', '/health', '/openapi.json'].map((p) => [p, { target: API, changeOrigin: false }])),
  },
});
