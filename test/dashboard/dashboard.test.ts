import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, watchedPage } from '../support/browser.js';
import { startTestService, type TestService } from '../support/service.js';
import { realisticEvents } from '../support/usage-seed.js';
import { scratchDir } from '../support/scratch-dirs.js';

const NOW = Date.UTC(2026, 10, 20, 15, 30);
const PAGE_BUDGET_BYTES = 200_000;
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(() => browser?.close());

async function open(page: Page, url: string) {
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state && document.body.dataset.state !== 'loading');
  return page.evaluate(() => document.body.dataset.state);
}
const value = async (page: Page, selector: string) => Number(await page.getAttribute(selector, 'data-value'));
const pinnedOnPage = (page: Page) => page.$$eval('#projects li.pinned', (lis) => lis.map((li) => (li as HTMLElement).dataset.project));
const focused = (page: Page) => page.evaluate(() => document.activeElement?.ariaLabel);

describe('the dashboard with data', () => {
  let svc: TestService;
  let base: string;
  beforeAll(async () => {
    svc = await startTestService({ now: () => NOW });
    base = `${svc.reportingUrl}/`;
    const res = await svc.ingest('/v1/usage', { events: realisticEvents(NOW) });
    expect((await res.json()).rejected).toBe(0);
  });
  afterAll(() => svc.close());

  it('shows the numbers of the API, loads under its weight budget, requests nothing elsewhere, logs no errors', async () => {
    const { page, context, requests, errors } = await watchedPage(browser);
    const sizes: Promise<{ api: boolean; bytes: number }>[] = [];
    page.on('requestfinished', (r) => sizes.push(r.sizes().then((s) => ({ api: new URL(r.url()).pathname.startsWith('/v1/'), bytes: s.responseBodySize + s.responseHeadersSize }))));
    expect(await open(page, base)).toBe('ready');
    const transferred = await Promise.all(sizes);
    const kib = (api: boolean) => (transferred.filter((t) => t.api === api).reduce((sum, t) => sum + t.bytes, 0) / 1024).toFixed(1);
    const weight = transferred.reduce((sum, t) => sum + t.bytes, 0);
    console.log(`dashboard first load: ${requests.length} requests, ${(weight / 1024).toFixed(1)} KiB transferred (page and assets ${kib(false)} KiB gzipped, API answers ${kib(true)} KiB)`);
    expect(weight).toBeLessThan(PAGE_BUDGET_BYTES);

    const stats = (await svc.report('/v1/stats/current-month')).body;
    expect(await value(page, '#mtd-cost')).toBe(stats.global.cost_usd);
    expect(await value(page, '#mtd-tokens')).toBe(stats.global.total_tokens);
    expect(await value(page, '#mtd-events')).toBe(stats.global.events);
    expect(await page.textContent('#mtd-cost')).toMatch(/^\$[\d,]+\.\d\d$/);
    expect(await page.textContent('#mtd-cost-change')).toMatch(/^[+−±][\d.]+% vs same days last month$/);
    for (const p of stats.projects) expect(await value(page, `li[data-project="${p.project}"] .cost`)).toBe(p.cost_usd);

    const report = (await svc.report('/v1/reports/usage?group_by=model&limit=5')).body;
    const rows = await page.$$eval('#top-model tbody tr', (trs) => trs.map((tr) => [tr.querySelector('th')!.textContent, Number(tr.querySelector('td')!.dataset.value)]));
    expect(rows).toEqual(report.groups.map((g: any) => [g.other ? 'everything else' : g.key.model, g.cost_usd]));
    expect(report.unpriced_models.length).toBeGreaterThan(0);
    expect(await page.$$eval('#unpriced tbody th', (ths) => ths.map((th) => th.textContent))).toEqual(report.unpriced_models.map((m: any) => m.model));
    expect(await page.$$eval('#chart canvas', (c) => c.length)).toBe(1);

    expect(requests.filter((url) => !url.startsWith(base))).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('pins, unpins and reorders by mouse and keyboard; the order persists after a reload and in /v1/projects', async () => {
    const { page, context, errors } = await watchedPage(browser);
    await open(page, base);
    const done = (label: string) => page.waitForFunction((text) => document.querySelector('#status')!.textContent === text, `Done: ${label}.`);

    await page.getByRole('button', { name: 'Pin atlas' }).click();
    await done('Pin atlas');
    await page.getByRole('button', { name: 'Pin cygnus' }).focus();
    await page.keyboard.press('Enter');
    await done('Pin cygnus');
    expect(await focused(page)).toBe('Move cygnus up');
    await page.keyboard.press('Enter');
    await done('Move cygnus up');
    expect(await focused(page)).toBe('Move cygnus down');
    expect(await pinnedOnPage(page)).toEqual(['cygnus', 'atlas']);

    await page.getByRole('button', { name: 'Pin borealis' }).click();
    await done('Pin borealis');
    await page.getByRole('button', { name: 'Move borealis up' }).click();
    await done('Move borealis up');
    expect(await pinnedOnPage(page)).toEqual(['cygnus', 'borealis', 'atlas']);
    await page.getByRole('button', { name: 'Unpin cygnus' }).focus();
    await page.keyboard.press('Space');
    await done('Unpin cygnus');
    expect(await pinnedOnPage(page)).toEqual(['borealis', 'atlas']);

    const api = (await svc.report('/v1/projects')).body.projects;
    expect(api.filter((p: any) => p.pinned).map((p: any) => p.id)).toEqual(['borealis', 'atlas']);
    await open(page, base);
    expect(await pinnedOnPage(page)).toEqual(['borealis', 'atlas']);
    expect(await page.$$eval('#projects li', (lis) => lis.map((li) => (li as HTMLElement).dataset.project))).toEqual(api.map((p: any) => p.id));
    expect(errors).toEqual([]);
    await context.close();
  });

  it('renders the view a URL describes, and the filter form writes the URL', async () => {
    const { page, context, errors } = await watchedPage(browser);
    const filters = 'project=atlas&model=gpt-4o';
    expect(await open(page, `${base}?${filters}&from=2026-11-05&to=2026-11-15&stack=model`)).toBe('ready');
    expect(await page.inputValue('select[name=project]')).toBe('atlas');
    expect(await page.inputValue('select[name=model]')).toBe('gpt-4o');
    expect(await page.inputValue('input[name=from]')).toBe('2026-11-05');
    expect(await page.inputValue('input[name=to]')).toBe('2026-11-15');
    expect(await page.isChecked('input[name=stack][value=model]')).toBe(true);

    const month = (await svc.report(`/v1/reports/usage?${filters}`)).body;
    expect(await value(page, '#mtd-cost')).toBe(month.totals.cost_usd);
    expect(await value(page, '#mtd-events')).toBe(month.totals.events);
    const agents = (await svc.report(`/v1/reports/usage?${filters}&group_by=agent&limit=5&from=2026-11-05&to=2026-11-16`)).body;
    const rows = await page.$$eval('#top-agent tbody tr', (trs) => trs.map((tr) => [tr.querySelector('th')!.textContent, Number(tr.querySelector('td')!.dataset.value)]));
    expect(rows).toEqual(agents.groups.map((g: any) => [g.key.agent, g.cost_usd]));
    const legend = () => page.$$eval('#chart-legend tbody th', (ths) => ths.map((th) => th.textContent));
    expect(await legend()).toEqual(['gpt-4o']);
    await page.getByRole('radio', { name: 'Project' }).check();
    await page.waitForFunction(() => !location.search.includes('stack=') && document.body.dataset.state === 'ready');
    expect(await legend()).toEqual(['atlas']);

    await page.selectOption('select[name=agent]', 'coder');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForFunction(() => location.search.includes('agent=coder') && document.body.dataset.state === 'ready');
    expect(new URL(page.url()).searchParams.get('agent')).toBe('coder');
    const coder = (await svc.report(`/v1/reports/usage?${filters}&agent=coder`)).body;
    await page.waitForFunction((v) => document.querySelector('#mtd-events')?.getAttribute('data-value') === String(v), coder.totals.events);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    const { page, context } = await watchedPage(browser, { bypassCSP: true });
    await open(page, base);
    await page.addScriptTag({ path: createRequire(import.meta.url).resolve('axe-core/axe.min.js') });
    const violations = await page.evaluate(async () => (await (window as any).axe.run()).violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).join(', ')})`));
    expect(violations).toEqual([]);
    await context.close();
  });

  it('says what went wrong when the API refuses the view', async () => {
    const { page, context } = await watchedPage(browser);
    expect(await open(page, `${base}?from=2026-02-30`)).toBe('error');
    expect(await page.textContent('#status')).toContain('Could not load the dashboard: from: "2026-02-30" is not a date');
    expect(await page.getByRole('button', { name: 'Try again' }).isVisible()).toBe(true);
    await context.close();
  });

  it('renders a full-page screenshot (into docs/dashboard.png only when DASHBOARD_SCREENSHOT asks, as `npm run screenshot` does)', async () => {
    const { page, context } = await watchedPage(browser);
    await open(page, base);
    const path = process.env.DASHBOARD_SCREENSHOT ?? join(scratchDir('tokentally-screenshot-'), 'dashboard.png');
    await page.screenshot({ path, fullPage: true });
    expect(statSync(path).size).toBeGreaterThan(10_000);
    await context.close();
  });
});

describe('the dashboard without events', () => {
  it('says how to send the first event', async () => {
    const svc = await startTestService({ now: () => NOW });
    const { page, context, errors } = await watchedPage(browser);
    expect(await open(page, `${svc.reportingUrl}/`)).toBe('empty');
    const status = await page.textContent('#status');
    expect(status).toContain('No events this month yet.');
    expect(status).toContain(`curl -s http://127.0.0.1:4318/v1/usage`);
    expect(await page.textContent('#projects')).toContain('No projects yet');
    expect(errors).toEqual([]);
    await context.close();
    await svc.close();
  });
});

describe('the dashboard with 100,000 projects', () => {
  const PROJECTS = 100_000;
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ now: () => NOW });
    for (let first = 0; first < PROJECTS; first += 10_000) {
      const events = Array.from({ length: 10_000 }, (_, i) => ({
        id: `e${first + i}`, project: `proj-${String(first + i).padStart(6, '0')}`, timestamp: NOW - ((first + i) % 86_400) * 1000,
        agent_id: 'bulk', model: 'gpt-4o', input_tokens: 10 + ((first + i) % 1000), output_tokens: 5,
      }));
      expect((await (await svc.ingest('/v1/usage', { events })).json()).accepted).toBe(10_000);
    }
  }, 300_000);
  afterAll(() => svc?.close());

  it('renders a page of them, and the search box finds any one', async () => {
    const { page, context, errors } = await watchedPage(browser);
    expect(await open(page, `${svc.reportingUrl}/`)).toBe('ready');
    const listed = () => page.$$eval('#projects li', (lis) => lis.map((li) => (li as HTMLElement).dataset.project));
    expect((await listed()).length).toBe(100);
    expect((await listed())[0]).toBe('proj-000000');
    expect(await page.textContent('#projects-more')).toContain('Showing 100 projects');
    expect(await value(page, '#mtd-events')).toBe(PROJECTS);

    await page.getByRole('button', { name: 'Show more' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#projects li').length === 200);

    await page.getByRole('searchbox', { name: 'Find a project' }).fill('proj-054321');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('#projects li').length === 1);
    expect(await listed()).toEqual(['proj-054321']);
    expect(await value(page, 'li[data-project="proj-054321"] .cost')).toBe((await svc.report('/v1/projects?q=proj-054321')).body.projects[0].current_month.cost_usd);
    expect(await page.isHidden('#projects-more')).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the dashboard with API keys on', () => {
  const sha = (key: string) => createHash('sha256').update(key).digest('hex');
  it('asks for a key, rejects a wrong one, then reads with it as a bearer token', async () => {
    const svc = await startTestService({ env: { API_KEYS: `read:${sha('read-key')},admin:${sha('admin-key')}` }, now: () => NOW });
    await svc.ingest('/v1/usage', { events: realisticEvents(NOW, 3) }, { authorization: 'Bearer admin-key' });
    const { page, context } = await watchedPage(browser);
    const authorizations = new Set<string>();
    page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) authorizations.add(r.headers().authorization ?? '(none)'); });

    expect(await open(page, `${svc.reportingUrl}/`)).toBe('auth');
    expect(await page.isVisible('#auth')).toBe(true);
    await page.getByRole('textbox', { name: 'API key' }).fill('wrong');
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.waitForFunction(() => document.querySelector('#auth-error')!.textContent !== '');
    expect(await page.textContent('#auth-error')).toBe('that key was not accepted; paste another key.');

    await page.getByRole('textbox', { name: 'API key' }).fill('read-key');
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    const stats = await (await fetch(`${svc.reportingUrl}/v1/stats/current-month`, { headers: { authorization: 'Bearer read-key' } })).json();
    expect(await value(page, '#mtd-cost')).toBe(stats.global.cost_usd);
    expect(authorizations).toEqual(new Set(['(none)', 'Bearer wrong', 'Bearer read-key']));

    await page.getByRole('button', { name: 'Pin atlas' }).click();
    await page.waitForFunction(() => document.body.dataset.state === 'error');
    expect(await page.textContent('#status')).toBe('Pin atlas: this key has the read role; this route needs admin. Changing pins needs an admin key.');
    await context.close();
    await svc.close();
  });
});
