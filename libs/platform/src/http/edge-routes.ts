/** The four services behind the edge, by app name. */
export type ServiceName = 'channel-registry' | 'relationship-routing' | 'dispatcher' | 'status-projection';

/**
 * Which service answers a public path, in the distributed mode: the one table the edge router
 * (tools/edge) and docker/edge/nginx.conf follow.
 */
export function serviceFor(method: string, path: string): ServiceName | null {
  const p = path.split('?')[0];
  if (/^\/v1\/(organizations?|api-keys|settings)(\/|$)/.test(p)) return 'channel-registry';
  if (/^\/v1\/channels\/[^/]+\/(test|health|messages)(\/|$)/.test(p)) return 'dispatcher';
  if (/^\/v1\/channel-health\/?$/.test(p)) return 'dispatcher';
  if (method === 'GET' && /^\/v1\/transactions\/[^/]+\/request\/?$/.test(p)) return 'relationship-routing';
  if (/^\/v1\/stats(\/|$)/.test(p)) return 'status-projection';
  if (/^\/v1\/egress\/?$/.test(p)) return 'dispatcher';
  if (/^\/v1\/channels(\/|$)/.test(p)) return 'channel-registry';
  if (/^\/v1\/relationships(\/|$)/.test(p)) return 'relationship-routing';
  if (method === 'POST' && /^\/v1\/transactions(\/batch)?\/?$/.test(p)) return 'relationship-routing';
  if (/^\/v1\/(transactions|alerts)(\/|$)/.test(p)) return 'status-projection';
  if (p === '/openapi.json' || p === '/docs' || p.startsWith('/docs/')) return 'channel-registry';
  return null;
}
