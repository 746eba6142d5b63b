import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The system Chromium, headless, with everything that could reach the network on its own turned off.
 * Playwright gives each launch a fresh temporary user-data-dir.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested. */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

/** A page in its own context (fresh storage) that records its requests and errors. */
export async function watchedPage(browser: Browser, options: { bypassCSP?: boolean } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...options });
  const page = await context.newPage();
  const watched: WatchedPage = { page, context, requests: [], errors: [] };
  context.on('request', (r) => watched.requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') watched.errors.push(m.text()); });
  page.on('pageerror', (e) => watched.errors.push(String(e)));
  return watched;
}
