import { useSyncExternalStore } from 'react';

/**
 * Client-side routes on the History API (no hash, no library): Waybill answers every path that is
 * not the API's with index.html, so a reload or a shared link opens the same screen.
 */
const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

/** The current path and query (`/transactions?status=FAILED`). */
export function useLocation(): { path: string; query: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, () => location.pathname + location.search);
  const url = new URL(href, 'http://console');
  return { path: url.pathname, query: url.searchParams };
}
