import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, watchedPage } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
let browser: Browser;
beforeAll(async () => {
  [svc, browser] = await Promise.all([startTestService(), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

describe('the /docs page', () => {
  it.each(['collector', 'reporting'] as const)('on the %s app sends the headers the dashboard sends', async (app) => {
    const res = await fetch(`${app === 'collector' ? svc.collectorUrl : svc.reportingUrl}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';.*frame-ancestors 'none'$/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const dashboard = await fetch(`${svc.reportingUrl}/`);
    for (const name of ['x-frame-options', 'x-content-type-options', 'referrer-policy']) expect(res.headers.get(name)).toBe(dashboard.headers.get(name));
  });

  /** Opens /docs, authorizes with a bearer key through Swagger UI's dialog, and says what localStorage then holds. */
  async function authorize(search: string): Promise<{ stored: string | null; errors: string[] }> {
    const { page, context, errors } = await watchedPage(browser);
    await page.goto(`${svc.reportingUrl}/docs${search}`);
    await page.getByRole('button', { name: /Authorize/ }).first().click();
    await page.locator('.modal-ux input[type=text], .modal-ux input[type=password]').first().fill('pasted-key');
    await page.locator('.modal-ux button.authorize').first().click();
    await page.locator('.modal-ux button.btn-done').first().click();
    const stored = await page.evaluate(() => localStorage.getItem('authorized'));
    await context.close();
    return { stored, errors };
  }

  it('renders under its CSP, and keeps a pasted key out of localStorage unless asked', async () => {
    const plain = await authorize('');
    expect(plain.errors).toEqual([]);
    expect(plain.stored).toBeNull();
    const asked = await authorize('?persist_authorization=true');
    expect(asked.errors).toEqual([]);
    expect(asked.stored).toContain('pasted-key');
  });
});
