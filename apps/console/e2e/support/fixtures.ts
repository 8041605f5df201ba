import { mkdirSync } from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, Page, test as base } from '@playwright/test';
import { request } from 'undici';
import { PartnerReceiver } from '@waybill/testing';

/**
 * Where the screenshots of each screen go: tmp/console-screenshots, or with
 * `WAYBILL_SCREENSHOT_DIR=docs/console` (`npm run console:screenshots`) the committed ones the
 * README shows — so that a test run leaves the tree as it was.
 */
export const SHOTS = path.resolve(__dirname, '../../../..', process.env.WAYBILL_SCREENSHOT_DIR ?? 'tmp/console-screenshots');
mkdirSync(SHOTS, { recursive: true });

export function waybillUrl(): string {
  const url = process.env.WAYBILL_URL;
  if (!url) throw new Error('WAYBILL_URL is not set: the global setup starts Waybill');
  return url;
}

/** A small client of the public API for what a test sets up or checks beside the browser. */
export class Api {
  constructor(readonly apiKey: string) {}

  async call<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await request(`${waybillUrl()}${p}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${this.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : null) as T };
  }

  get<T = any>(p: string) {
    return this.call<T>('GET', p);
  }

  post<T = any>(p: string, body?: unknown) {
    return this.call<T>('POST', p, body);
  }
}

export interface Org {
  id: string;
  name: string;
  apiKey: string;
  api: Api;
}

let orgs = 0;

/** A new organisation, through the deployment's admin key: each test works in its own. */
export async function newOrganization(name = `Acme Retail ${++orgs}`): Promise<Org> {
  const res = await request(`${waybillUrl()}/v1/organizations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${process.env.WAYBILL_ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = (await res.body.json()) as { id: string; apiKey: string };
  if (res.statusCode !== 201) throw new Error(`organisation: ${res.statusCode} ${JSON.stringify(body)}`);
  return { id: body.id, name, apiKey: body.apiKey, api: new Api(body.apiKey) };
}

/** Signs in as a user does: the API key field, then Enter. */
export async function signIn(page: Page, org: Org): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(org.apiKey);
  await page.getByLabel('API key').press('Enter');
  await expect(page.getByTestId('org-name')).toHaveText(org.name);
}

/** Opens a screen from the left panel. */
export async function openScreen(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}

/** No serious or critical accessibility violation on what the page shows now. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  // @axe-core/playwright brings its own playwright-core (a patch apart): the same Page at run time.
  const results = await new AxeBuilder({ page: page as never }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`),
    `accessibility of ${what}`,
  ).toEqual([]);
}

/** A screenshot of the screen for the docs, after its accessibility check. */
export async function shoot(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** The console errors a test saw; `allow(409)` accepts the browser's note of an answer the test expects. */
export interface ConsoleErrors {
  errors: string[];
  allow(...statuses: number[]): void;
}

type Fixtures = { org: Org; consoleErrors: ConsoleErrors };
type WorkerFixtures = { receiver: PartnerReceiver };

/**
 * `receiver`: a real HTTP server standing in for the partners (one for the run's worker).
 * `org`: a fresh organisation. Every test also fails on any console error or page error
 * (a CSP violation is one).
 */
export const test = base.extend<Fixtures, WorkerFixtures>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads a fixture's needs from this pattern
  baseURL: async ({}, use) => use(waybillUrl()),
  receiver: [
    // eslint-disable-next-line no-empty-pattern -- as above
    async ({}, use) => {
      const receiver = await PartnerReceiver.start();
      await use(receiver);
      await receiver.stop();
    },
    { scope: 'worker' },
  ],
  // eslint-disable-next-line no-empty-pattern -- as above
  org: async ({}, use) => use(await newOrganization()),
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      const allowed = new Set<number>();
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        // Chromium notes every answer >= 400 it fetched; one the test expects is not an error.
        const status = /the server responded with a status of (\d{3})/.exec(msg.text())?.[1];
        if (status && allowed.has(Number(status))) return;
        errors.push(msg.text());
      });
      page.on('pageerror', (err) => errors.push(err.message));
      await use({ errors, allow: (...statuses) => statuses.forEach((s) => allowed.add(s)) });
      expect(errors, 'console errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
