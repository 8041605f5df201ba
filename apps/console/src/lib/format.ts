/** Times as the operator reads them: local, to the second. */
export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function shortId(id: string | null | undefined): string {
  if (!id) return '—';
  return id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id;
}

export function ms(n: number): string {
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

export function authLabel(type: string): string {
  return { NONE: 'None', BASIC: 'Basic', BEARER: 'Bearer token', OAUTH2_CLIENT_CREDENTIALS: 'OAuth2 client credentials' }[type] ?? type;
}
