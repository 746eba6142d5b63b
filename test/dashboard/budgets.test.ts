import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, watchedPage } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';

let browser: Browser;
let svc: TestService;
beforeAll(async () => {
  [browser, svc] = await Promise.all([launchChromium(), startTestService()]);
  const events = [0.4, 0.35].map((cost, i) => ({ id: `b-${i}`, project: 'atlas', agent_id: 'planner', model: 'gpt-4o', input_tokens: 10, cost_usd: cost }));
  expect((await (await svc.ingest('/v1/usage', { events })).json()).accepted).toBe(2);
  const put = await fetch(`${svc.reportingUrl}/v1/budgets/atlas-daily`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Atlas daily', scope: { project: 'atlas' }, window: 'day', limit_usd: 1, targets: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: 'a-secret-of-16-characters' }] }),
  });
  expect(put.status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

async function open(page: Page) {
  await page.goto(`${svc.reportingUrl}/`);
  await page.waitForFunction(() => document.body.dataset.state && document.body.dataset.state !== 'loading');
}
const figure = async (page: Page, budget: string, name: string) => Number(await page.getAttribute(`#budgets li[data-budget="${budget}"] .${name}`, 'data-value'));

describe('budgets on the dashboard', () => {
  it('shows each budget as a bar with the figures and forecast of /v1/budgets/status', async () => {
    const { page, context, errors } = await watchedPage(browser);
    const [before] = (await svc.report('/v1/budgets/status')).body.budgets;
    await open(page);
    const [status] = (await svc.report('/v1/budgets/status')).body.budgets;
    expect(await figure(page, 'atlas-daily', 'spent')).toBe(status.spent_usd);
    expect(await figure(page, 'atlas-daily', 'limit')).toBe(1);
    // The forecast falls as the day goes on (the same spend over more of it), by several per cent a
    // second minutes after midnight UTC: the page's, read between these two, lies between theirs.
    const forecast = await figure(page, 'atlas-daily', 'forecast');
    expect(forecast).toBeLessThanOrEqual(before.forecast_usd * 1.0001);
    expect(forecast).toBeGreaterThanOrEqual(status.forecast_usd * 0.9999);
    expect(await page.getAttribute('#budgets li[data-budget="atlas-daily"]', 'data-state')).toBe('near');
    const bar = page.locator('#budgets li[data-budget="atlas-daily"] .bar');
    expect(await bar.getAttribute('aria-label')).toMatch(/^Atlas daily: \$0\.75 of \$1\.00 spent, forecast \$/);
    const width = await bar.evaluate((b) => (b.querySelector('.fill') as HTMLElement).getBoundingClientRect().width / b.getBoundingClientRect().width);
    expect(width).toBeCloseTo(status.ratio / Math.min(2, Math.max(1, status.ratio, status.forecast_ratio)), 2);
    expect(await bar.locator('.forecast-mark').count()).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('lets an admin create a budget and edit one, keeping the stored webhook secret', async () => {
    const { page, context, errors } = await watchedPage(browser);
    await open(page);
    await page.getByRole('button', { name: 'New budget' }).click();
    const form = page.getByRole('form', { name: 'Budget' });
    await form.getByLabel('Id').fill('planner-week');
    await form.getByLabel('Name').fill('Planner weekly');
    await form.getByLabel('Agents').fill('planner');
    await form.getByLabel('Window').selectOption('week');
    await form.getByLabel('Time zone').fill('Europe/Paris');
    await form.getByLabel('Limit (USD)').fill('25');
    await form.getByLabel('Thresholds (%)').fill('75, 100');
    await form.getByRole('button', { name: 'Save budget' }).click();
    await page.waitForSelector('#budgets li[data-budget="planner-week"]');
    expect(await page.textContent('#budget-status')).toBe('Saved budget planner-week.');
    expect((await svc.report('/v1/budgets/planner-week')).body).toMatchObject({
      name: 'Planner weekly', scope: { agent: ['planner'] }, window: 'week', tz: 'Europe/Paris', limit_usd: 25, thresholds: [75, 100], targets: [],
    });

    await page.getByRole('button', { name: 'Edit budget Atlas daily' }).click();
    await page.waitForFunction(() => (document.querySelector('#budget-form [name=id]') as HTMLInputElement).value === 'atlas-daily');
    expect(await form.getByLabel('Webhook URL', { exact: true }).inputValue()).toBe('http://127.0.0.1:9/hook');
    await form.getByLabel('Limit (USD)').fill('2');
    await form.getByRole('button', { name: 'Save budget' }).click();
    await page.waitForFunction(() => document.querySelector('#budgets li[data-budget="atlas-daily"] .limit')?.getAttribute('data-value') === '2');
    expect((await svc.report('/v1/budgets/atlas-daily')).body).toMatchObject({ limit_usd: 2, targets: [{ type: 'webhook', secret_set: true }] });

    expect(errors).toEqual([]);

    // A bad value comes back with the API's message naming the field (Chromium logs the 400 itself).
    await form.getByLabel('Time zone').fill('Mars/Olympus');
    await form.getByRole('button', { name: 'Save budget' }).click();
    await page.waitForFunction(() => document.querySelector('#budget-status')!.textContent!.startsWith('Not saved: tz: '));
    await context.close();
  });
});
