/**
 * The API key lives in this tab's sessionStorage only: never in a URL, never in localStorage, gone
 * when the tab closes.
 */
const KEY = 'waybill.apiKey';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeKey(apiKey: string): void {
  sessionStorage.setItem(KEY, apiKey);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}
