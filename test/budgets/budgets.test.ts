import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook.js';

const SECRET = 'receiver-shared-secret-0123456789';
const ADMIN_KEY = 'budgets-admin-key';
const INGEST_KEY = 'budgets-ingest-key';
const ATLAS_ADMIN_KEY = 'budgets-atlas-admin-key';
const ALERTS_INGEST_KEY = 'budgets-alerts-ingest-key';
const sha = (key: string) => createHash('sha256').update(key).digest('hex');
const API_KEYS = [`admin:${sha(ADMIN_KEY)}`, `ingest:${sha(INGEST_KEY)}`, `admin@atlas:${sha(ATLAS_ADMIN_KEY)}`, `ingest@alerts:${sha(ALERTS_INGEST_KEY)}`].join(',');
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function call(svc: TestService, method: string, path: string, body?: unknown, key = ADMIN_KEY) {
  const res = await fetch(svc.reportingUrl + path, {
    method, headers: { 'content-type': 'application/json', ...auth(key) }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function check(svc: TestService, query: string, key = INGEST_KEY) {
  const res = await fetch(`${svc.collectorUrl}/v1/budgets/check?${query}`, { headers: auth(key) });
  return { status: res.status, body: (await res.json()) as any };
}

/** An event costing `cost` dollars, timestamped `at` (default: now). */
const ev = (id: string, cost: number, over: Record<string, unknown> = {}) => ({
  id, timestamp: Date.now(), project: 'atlas', agent_id: 'planner', model: 'gpt-4o', input_tokens: 100, output_tokens: 10, cost_usd: cost, ...over,
});

async function ingest(svc: TestService, events: unknown[]) {
  const res = await svc.ingest('/v1/usage', { events }, auth(INGEST_KEY));
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ accepted: events.length });
}

/** Waits for one more full evaluation than had finished when called: its figures are those of the data as it is now. */
async function nextEvaluations(svc: TestService, count = 2) {
  for (let i = 0; i < count; i++) {
    const before = await metricValue(svc.collectorUrl, 'tokentally_budget_evaluations_total') ?? 0;
    await until(async () => ((await metricValue(svc.collectorUrl, 'tokentally_budget_evaluations_total')) ?? 0) > before + 1, 'an evaluation');
  }
}

describe.each(BACKENDS)('budgets on %s', (backend) => {
  let svc: TestService;
  let hook: WebhookReceiver;
  let slack: WebhookReceiver;
  beforeAll(async () => {
    [hook, slack] = await Promise.all([startWebhookReceiver(SECRET), startWebhookReceiver(SECRET)]);
    svc = await startTestService({ backend, env: { API_KEYS, BUDGET_EVALUATE_MS: '100', BUDGET_NOTIFY_ATTEMPTS: '2' } });
  });
  afterAll(async () => {
    await svc?.close();
    await Promise.all([hook?.close(), slack?.close()]);
  });

  describe('the API', () => {
    afterEach(async () => {
      for (const b of (await call(svc, 'GET', '/v1/budgets')).body.budgets) await call(svc, 'DELETE', `/v1/budgets/${b.id}`);
    });

    it('creates, reads, replaces and deletes a budget; webhook secrets are write-only and kept on edit', async () => {
      const body = { scope: { project: 'atlas', agent: ['planner', 'coder'] }, window: 'month', tz: 'Europe/Paris', limit_usd: 2000, targets: [{ type: 'webhook', url: hook.url, secret: SECRET }] };
      const created = await call(svc, 'PUT', '/v1/budgets/atlas-monthly', body);
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: 'atlas-monthly', name: 'atlas-monthly', scope: { project: ['atlas'], agent: ['planner', 'coder'] }, window: 'month', tz: 'Europe/Paris',
        limit_usd: 2000, thresholds: [50, 80, 100], targets: [{ type: 'webhook', url: hook.url, secret_set: true }],
      });
      expect(JSON.stringify(created.body)).not.toContain(SECRET);
      const replaced = await call(svc, 'PUT', '/v1/budgets/atlas-monthly', { ...body, name: 'Atlas', thresholds: [90, 25], targets: [{ type: 'webhook', url: hook.url }] });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ name: 'Atlas', thresholds: [25, 90], targets: [{ secret_set: true }] });
      expect((await call(svc, 'GET', '/v1/budgets/atlas-monthly')).body).toEqual(replaced.body);
      expect((await call(svc, 'GET', '/v1/budgets')).body.budgets.map((b: any) => b.id)).toEqual(['atlas-monthly']);
      expect(await call(svc, 'DELETE', '/v1/budgets/atlas-monthly')).toEqual({ status: 200, body: { id: 'atlas-monthly', deleted: true } });
      expect((await call(svc, 'GET', '/v1/budgets/atlas-monthly')).status).toBe(404);
      expect((await call(svc, 'DELETE', '/v1/budgets/atlas-monthly')).status).toBe(404);
    });

    it.each([
      [{ window: 'month' }, /^limit_usd: /],
      [{ window: 'fortnight', limit_usd: 1 }, /^window: "fortnight" is not one of day, week, month, 24h, 7d, 30d/],
      [{ window: 'day', limit_usd: -1 }, /^limit_usd: must be more than 0/],
      [{ window: 'day', limit_usd: 1e-12 }, /^limit_usd: must be at least 0.000000001 \(one nano-dollar\)/],
      [{ window: 'day', limit_usd: 1, tz: 'Mars/Olympus' }, /^tz: "Mars\/Olympus" is not an IANA time zone/],
      [{ window: 'day', limit_usd: 1, thresholds: [50, 0] }, /^thresholds\[1\]: must be more than 0/],
      [{ window: 'day', limit_usd: 1, thresholds: [50, 50] }, /^thresholds: lists a threshold more than once/],
      [{ window: 'day', limit_usd: 1, scope: { agent: '' } }, /^scope\.agent: /],
      [{ window: 'day', limit_usd: 1, scope: { team: 'x' } }, /^scope: unknown field\(s\): team/],
      [{ window: 'day', limit_usd: 1, targets: [{ type: 'webhook', url: 'ftp://x' }] }, /^targets\[0\]\.url: must be an http/],
      [{ window: 'day', limit_usd: 1, targets: [{ type: 'email', url: 'http://x' }] }, /^targets\[0\]\.type: /],
      [{ window: 'day', limit_usd: 1, targets: [{ type: 'slack', url: 'https://hook:s3cret@hooks.example/services/T0' }] }, /^targets\[0\]\.url: must not carry a user name or password/],
      [{ window: 'day', limit_usd: 1, targets: [{ type: 'webhook', url: 'http://x', secret: 'short' }] }, /^targets\[0\]\.secret: must be at least 16/],
      [{ window: 'day', limit_usd: 1, targets: [{ type: 'webhook', url: 'http://x' }] }, /^targets\[0\]\.secret: required for a new webhook target/],
      [{ window: 'day', limit_usd: 1, colour: 'red' }, /^body: unknown field\(s\): colour/],
    ])('refuses %j with a 400 naming the field', async (body, message) => {
      const res = await call(svc, 'PUT', '/v1/budgets/bad', body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
      expect((await call(svc, 'GET', '/v1/budgets/bad')).status).toBe(404);
    });

    it('refuses a budget beyond MAX_BUDGETS with 409, and still replaces the existing ones', async () => {
      const capped = await startTestService({ backend, env: { API_KEYS, MAX_BUDGETS: '2' } });
      try {
        const body = { window: 'day', limit_usd: 1 };
        expect((await call(capped, 'PUT', '/v1/budgets/a', body)).status).toBe(201);
        expect((await call(capped, 'PUT', '/v1/budgets/b', body)).status).toBe(201);
        const third = await call(capped, 'PUT', '/v1/budgets/c', body);
        expect(third.status).toBe(409);
        expect(third.body.error.message).toMatch(/^id: 2 budgets exist already \(MAX_BUDGETS\)/);
        expect((await call(capped, 'PUT', '/v1/budgets/b', { ...body, limit_usd: 2 })).status).toBe(200);
        expect((await call(capped, 'GET', '/v1/budgets')).body.budgets.map((b: any) => b.id)).toEqual(['a', 'b']);
      } finally {
        await capped.close();
      }
    });

    it('refuses a bad id and reserved words, naming the id', async () => {
      for (const id of ['-x', 'status', 'check']) {
        const res = await call(svc, 'PUT', `/v1/budgets/${id}`, { window: 'day', limit_usd: 1 });
        expect(res.status).toBe(400);
        expect(res.body.error.message).toMatch(/^id: /);
      }
    });

    it('keys scoped to projects manage only budgets confined to their projects; ingest keys cannot manage', async () => {
      expect((await call(svc, 'PUT', '/v1/budgets/all', { window: 'day', limit_usd: 1 }, ATLAS_ADMIN_KEY)).status).toBe(403);
      expect((await call(svc, 'PUT', '/v1/budgets/other', { window: 'day', limit_usd: 1, scope: { project: ['atlas', 'borealis'] } }, ATLAS_ADMIN_KEY)).status).toBe(403);
      expect((await call(svc, 'PUT', '/v1/budgets/mine', { window: 'day', limit_usd: 1, scope: { project: 'atlas' } }, ATLAS_ADMIN_KEY)).status).toBe(201);
      expect((await call(svc, 'PUT', '/v1/budgets/global', { window: 'day', limit_usd: 1 })).status).toBe(201);
      expect((await call(svc, 'GET', '/v1/budgets', undefined, ATLAS_ADMIN_KEY)).body.budgets.map((b: any) => b.id)).toEqual(['mine']);
      expect((await call(svc, 'GET', '/v1/budgets/global', undefined, ATLAS_ADMIN_KEY)).status).toBe(404);
      expect((await call(svc, 'PUT', '/v1/budgets/global', { window: 'day', limit_usd: 2, scope: { project: 'atlas' } }, ATLAS_ADMIN_KEY)).status).toBe(403);
      expect((await call(svc, 'GET', '/v1/budgets', undefined, INGEST_KEY)).status).toBe(403);
    });
  });

  describe('status', () => {
    it('spends exactly what the usage report says over the same scope and window, late events in their own window', async () => {
      // 2026-03-29 is the day Paris moves to summer time: its day is 23 hours long.
      const day = Date.UTC(2026, 2, 29, 12);
      const events = [
        ev('dst-1', 0.1, { timestamp: Date.UTC(2026, 2, 28, 22, 30) }), // 23:30 on the 28th in Paris
        ev('dst-2', 0.2, { timestamp: Date.UTC(2026, 2, 28, 23, 30) }), // 00:30 on the 29th
        ev('dst-3', 0.4, { timestamp: Date.UTC(2026, 2, 29, 21, 30), user_id: 'u1' }), // 23:30 on the 29th (summer time)
        ev('dst-4', 0.8, { timestamp: Date.UTC(2026, 2, 29, 22, 30) }), // 00:30 on the 30th
        ev('dst-5', 1.6, { timestamp: Date.UTC(2026, 2, 29, 12), agent_id: 'coder' }),
      ];
      await ingest(svc, events);
      expect((await call(svc, 'PUT', '/v1/budgets/paris-day', { scope: { project: 'atlas', agent: 'planner' }, window: 'day', tz: 'Europe/Paris', limit_usd: 1 })).status).toBe(201);
      const status = await call(svc, 'GET', `/v1/budgets/paris-day/status?at=${new Date(day).toISOString()}`, undefined, ADMIN_KEY);
      expect(status.status).toBe(200);
      expect(status.body.window).toEqual({ kind: 'day', tz: 'Europe/Paris', start: '2026-03-28T23:00:00Z', end: '2026-03-29T22:00:00Z' });
      expect(status.body.spent_usd).toBeCloseTo(0.6, 9);
      const report = await call(svc, 'GET', `/v1/reports/usage?project=atlas&agent=planner&from=${status.body.window.start}&to=${status.body.window.end}`);
      expect(status.body.spent_usd).toBe(report.body.totals.cost_usd);
      expect(status.body).toMatchObject({ limit_usd: 1, state: 'near', archived: false });
      expect(status.body.thresholds.map((t: any) => [t.percent, t.crossed])).toEqual([[50, true], [80, false], [100, false]]);
      // A user-scoped budget needs the raw events; the numbers still match the report's.
      await call(svc, 'PUT', '/v1/budgets/user-week', { scope: { user: 'u1' }, window: 'week', tz: 'Europe/Paris', limit_usd: 10 });
      const week = (await call(svc, 'GET', `/v1/budgets/user-week/status?at=2026-03-29T12:00:00Z`)).body;
      expect(week.window).toMatchObject({ start: '2026-03-22T23:00:00Z', end: '2026-03-29T22:00:00Z' });
      expect(week.spent_usd).toBeCloseTo(0.4, 9);
      // Every budget at once, each in the window holding `at` in its own zone.
      const all = (await call(svc, 'GET', `/v1/budgets/status?at=${new Date(day).toISOString()}`)).body.budgets;
      expect(Object.fromEntries(all.map((b: any) => [b.budget_id, [b.window.start, b.spent_usd]]))).toMatchObject({
        'paris-day': ['2026-03-28T23:00:00Z', status.body.spent_usd], 'user-week': ['2026-03-22T23:00:00Z', week.spent_usd],
      });
      // Every route refuses a parameter it does not take, those that take none too (a DELETE deletes nothing then).
      for (const [method, path] of [
        ['GET', '/v1/budgets/status?bogus=1'], ['GET', '/v1/budgets?bogus=1'], ['GET', '/v1/budgets/paris-day?bogus=1'],
        ['PUT', '/v1/budgets/paris-day?bogus=1'], ['DELETE', '/v1/budgets/paris-day?bogus=1'], ['POST', '/v1/budgets/paris-day/test?bogus=1'],
        ['PUT', '/v1/projects/pins?bogus=1'],
      ] as const) {
        const refused = await call(svc, method, path, method === 'PUT' ? { order: [] } : undefined, ADMIN_KEY);
        expect(refused.status, path).toBe(400);
        expect(refused.body.error.message, path).toMatch(/^bogus: unknown parameter/);
      }
      expect((await call(svc, 'GET', '/v1/budgets/paris-day', undefined, ADMIN_KEY)).status).toBe(200);
      // Late events count in their own window, not the current one.
      const now = (await call(svc, 'GET', '/v1/budgets/paris-day/status')).body;
      expect(now.spent_usd).toBe(0);
      expect(Date.parse(now.window.start)).toBeLessThanOrEqual(Date.now());
      await call(svc, 'DELETE', '/v1/budgets/paris-day');
      await call(svc, 'DELETE', '/v1/budgets/user-week');
    });

    it('forecasts the window end from the last day\'s run rate', async () => {
      const at = Date.UTC(2026, 5, 11); // 10 days into June
      await ingest(svc, [ev('f-1', 10, { project: 'fc', timestamp: Date.UTC(2026, 5, 2) }), ev('f-2', 2, { project: 'fc', timestamp: Date.UTC(2026, 5, 10, 12) })]);
      await call(svc, 'PUT', '/v1/budgets/fc', { scope: { project: 'fc' }, window: 'month', limit_usd: 100 });
      const s = (await call(svc, 'GET', `/v1/budgets/fc/status?at=${new Date(at).toISOString()}`)).body;
      // $12 spent, $2 in the last day, 20 days left: 12 + 2 × 20.
      expect(s.spent_usd).toBe(12);
      expect(s.forecast_usd).toBeCloseTo(52, 9);
      await call(svc, 'PUT', '/v1/budgets/fc', { scope: { project: 'fc' }, window: '7d', limit_usd: 100 });
      const rolling = (await call(svc, 'GET', `/v1/budgets/fc/status?at=${new Date(at).toISOString()}`)).body;
      // The 7 days to June 11 hold $2 (the $10 of June 2 is older); none of it leaves in the next day; $2 more at the last day's rate.
      expect(rolling.window).toEqual({ kind: '7d', tz: 'UTC', start: '2026-06-04T00:00:00Z', end: '2026-06-11T00:00:00Z' });
      expect([rolling.spent_usd, rolling.forecast_usd]).toEqual([2, 4]);
      await call(svc, 'DELETE', '/v1/budgets/fc');
    });
  });

  describe('alerts', () => {
    it('notifies each threshold crossing once, signed, within seconds; the check endpoint and gauges follow', async () => {
      hook.received.length = 0;
      slack.received.length = 0;
      const put = await call(svc, 'PUT', '/v1/budgets/alerts', {
        scope: { project: 'alerts' }, window: 'day', limit_usd: 1, thresholds: [50, 100],
        targets: [{ type: 'webhook', url: `${hook.url}/hook`, secret: SECRET }, { type: 'slack', url: `${slack.url}/services/T0/B0/XYZ` }],
      });
      expect(put.status).toBe(201);
      await ingest(svc, [ev('a-1', 0.3, { project: 'alerts' }), ev('a-2', 0.3, { project: 'alerts' })]);
      const committed = Date.now();
      await until(() => hook.received.length === 1 && slack.received.length === 1, 'the 50% notification', 10_000);
      expect(Date.now() - committed).toBeLessThan(10_000);
      const first = hook.received[0]!;
      expect(first.signatureValid).toBe(true);
      expect(first.headers['x-tokentally-delivery']).toBe(first.json.delivery_id);
      expect(first.json).toMatchObject({
        type: 'budget.threshold_crossed', threshold_percent: 50,
        budget: { id: 'alerts', scope: { project: ['alerts'] }, window: 'day', limit_usd: 1 },
        status: { budget_id: 'alerts', spent_usd: 0.6, state: 'near' },
      });
      expect(slack.received[0]!.json.text).toMatch(/crossed 50% of its limit: \$0\.60 of \$1\.00/);

      const answer = await check(svc, 'project=alerts&agent=planner');
      expect(answer.status).toBe(200);
      expect(answer.body.state).toBe('near');
      expect(answer.body.budgets.map((b: any) => [b.budget_id, b.state])).toEqual([['alerts', 'near']]);
      expect((await check(svc, 'project=other')).body).toEqual({ state: 'ok', budgets: [] });
      expect((await check(svc, 'project=alerts', ADMIN_KEY)).status).toBe(200);
      // A key scoped to projects checks only its own.
      expect((await check(svc, 'project=alerts', ALERTS_INGEST_KEY)).body.budgets.map((b: any) => b.budget_id)).toEqual(['alerts']);
      expect((await check(svc, 'project=atlas', ALERTS_INGEST_KEY)).status).toBe(403);
      expect((await check(svc, 'project=alerts', 'not-a-key')).status).toBe(401);
      expect(await metricValue(svc.collectorUrl, 'tokentally_budget_spend_usd{budget_id="alerts"}')).toBe(0.6);
      expect(await metricValue(svc.collectorUrl, 'tokentally_budget_limit_usd{budget_id="alerts"}')).toBe(1);

      await ingest(svc, [ev('a-3', 0.5, { project: 'alerts' })]);
      await until(() => hook.received.length === 2, 'the 100% notification');
      expect(hook.received[1]!.json).toMatchObject({ threshold_percent: 100, status: { state: 'over' } });
      expect(hook.received[1]!.signatureValid).toBe(true);
      expect((await check(svc, 'project=alerts')).body.state).toBe('over');
      // Later evaluations and events after the crossing send nothing more.
      await ingest(svc, [ev('a-4', 0.5, { project: 'alerts' })]);
      await nextEvaluations(svc);
      expect(hook.received.length).toBe(2);
      expect(slack.received.length).toBe(2);
      const status = (await call(svc, 'GET', '/v1/budgets/alerts/status')).body;
      expect(status.thresholds.every((t: any) => t.crossed && t.crossed_at !== null)).toBe(true);
      await call(svc, 'DELETE', '/v1/budgets/alerts');
    });

    it('follows a reprice: spend falling below a threshold un-crosses it, crossing again alerts again', async () => {
      hook.received.length = 0;
      const day = Date.now();
      await call(svc, 'PUT', '/v1/budgets/reprice', { scope: { project: 'reprice' }, window: '24h', limit_usd: 1, thresholds: [50], targets: [{ type: 'webhook', url: hook.url, secret: SECRET }] });
      // No cost_usd: priced from the table, so a reprice can change it.
      await ingest(svc, [{ ...ev('r-1', 0, { project: 'reprice' }), cost_usd: undefined }]);
      const setCost = (usd: number) => svc.store.reprice({ from: day - 3_600_000, to: day + 3_600_000, models: null }, (r) => {
        if (r.project === 'reprice') Object.assign(r, { cost_nanos: Math.round(usd * 1e9), cost_source: 'computed' });
      });
      await setCost(0.7);
      await until(() => hook.received.length === 1, 'the crossing after the reprice');
      await setCost(0.1);
      await until(async () => !(await call(svc, 'GET', '/v1/budgets/reprice/status')).body.thresholds[0].crossed, 'spend below 50%');
      await until(async () => (await call(svc, 'GET', '/v1/budgets/reprice/status')).body.thresholds[0].crossed_at === null, 'the crossing forgotten');
      await setCost(0.9);
      await until(() => hook.received.length === 2, 'the second crossing');
      expect(hook.received.map((r) => r.json.status.spent_usd)).toEqual([0.7, 0.9]);
      await call(svc, 'DELETE', '/v1/budgets/reprice');
    });

    it('archived projects\' budgets stop alerting', async () => {
      hook.received.length = 0;
      expect((await call(svc, 'PUT', '/v1/projects/old', { archived: true })).status).toBe(201);
      await call(svc, 'PUT', '/v1/budgets/old', { scope: { project: 'old' }, window: '24h', limit_usd: 1, thresholds: [10], targets: [{ type: 'webhook', url: hook.url, secret: SECRET }] });
      await ingest(svc, [ev('o-1', 5, { project: 'old' })]);
      await nextEvaluations(svc);
      const status = (await call(svc, 'GET', '/v1/budgets/old/status')).body;
      expect(status).toMatchObject({ archived: true, state: 'over', spent_usd: 5 });
      expect(hook.received).toEqual([]);
      await call(svc, 'PUT', '/v1/projects/old', { archived: false });
      await until(() => hook.received.length === 1, 'the alert once unarchived');
      await call(svc, 'DELETE', '/v1/budgets/old');
    });

    it('sends a test notification on request, and reports a target that fails for good in /readyz and metrics without stopping ingest', async () => {
      hook.received.length = 0;
      await call(svc, 'PUT', '/v1/budgets/testing', { scope: { project: 'testing' }, window: 'month', limit_usd: 1, thresholds: [50], targets: [{ type: 'webhook', url: hook.url, secret: SECRET }] });
      const tested = await call(svc, 'POST', '/v1/budgets/testing/test');
      expect(tested.status).toBe(200);
      expect(tested.body.results).toEqual([{ target: `testing webhook ${hook.url}`, delivered: true }]);
      expect(hook.received[0]!.json).toMatchObject({ type: 'budget.test', threshold_percent: null, budget: { id: 'testing' } });
      expect(hook.received[0]!.signatureValid).toBe(true);

      hook.answerWith(500);
      const failedBefore = (await metricValue(svc.collectorUrl, 'tokentally_budget_notifications_total{outcome="failed"}')) ?? 0;
      await ingest(svc, [ev('t-1', 0.6, { project: 'testing' })]);
      // Two attempts (BUDGET_NOTIFY_ATTEMPTS), a second apart, then it has failed for good.
      await until(async () => ((await metricValue(svc.collectorUrl, 'tokentally_budget_notifications_total{outcome="failed"}')) ?? 0) > failedBefore, 'the delivery given up');
      expect(hook.received.length).toBe(3);
      expect(hook.received[1]!.json.delivery_id).toBe(hook.received[2]!.json.delivery_id);
      expect(hook.received[1]!.body).toBe(hook.received[2]!.body);
      await until(async () => (await metricValue(svc.collectorUrl, 'tokentally_budget_failing_targets')) === 1, 'the failing-targets gauge');
      const ready = await fetch(`${svc.collectorUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', details: { budget_targets_failing: [{ target: `testing webhook ${hook.url}`, error: 'HTTP 500' }] } });
      await ingest(svc, [ev('t-2', 0.1, { project: 'testing' })]);
      hook.answerWith(200);
      await call(svc, 'DELETE', '/v1/budgets/testing');
    });
  });
});
