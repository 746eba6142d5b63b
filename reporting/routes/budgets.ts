import type { Context } from 'hono';
import { z } from 'zod';
import { requireProjects } from '../../src/auth/scope.js';
import { deliveriesFor, failureMessage, send } from '../../src/budgets/notification.js';
import { ApiBudget, BudgetId, BudgetInput, visibleTo, type Budget, type Target } from '../../src/budgets/schema.js';
import { ApiBudgetStatus, apiStatus, evaluate } from '../../src/budgets/status.js';
import { nanosToUsd, usdToNanos } from '../../src/event/normalise.js';
import { ApiError, badRequest, notFound } from '../../src/http/errors.js';
import { NoQuery } from '../../src/http/query.js';
import type { ReportingApi, ReportingDeps, ReportingEnv } from '../app.js';
import { jsonBody } from '../body.js';
import { instantMs, instantParam } from '../params.js';

/** Path words after /v1/budgets/ that are routes, never budget ids. */
const RESERVED_IDS = ['status', 'check'];
const IdParams = z.strictObject({
  id: BudgetId.refine((id) => !RESERVED_IDS.includes(id), { error: `must not be ${RESERVED_IDS.join(' or ')}` }).meta({ description: 'The budget id.', example: 'atlas-monthly' }),
});
const StatusQuery = z.strictObject({
  at: instantParam('The instant whose window to report (a past month, say), read in the budget\'s time zone. Default: now.', '2026-11-15T12:00:00Z'),
});

const BudgetList = z.object({ budgets: z.array(ApiBudget) });
const StatusList = z.object({ budgets: z.array(ApiBudgetStatus) });
const Deleted = z.object({ id: z.string(), deleted: z.literal(true) });
const TestAnswer = z.object({
  results: z.array(z.object({ target: z.string(), delivered: z.boolean(), error: z.string().optional() })),
});

const EXAMPLE = {
  name: 'Atlas, monthly', scope: { project: 'atlas' }, window: 'month', tz: 'Europe/Paris', limit_usd: 2000,
  thresholds: [50, 80, 100], targets: [{ type: 'webhook', url: 'https://hooks.example.com/tokentally', secret: 'a-secret-of-16-chars-or-more' }],
};

function apiBudget(b: Budget): z.infer<typeof ApiBudget> {
  return {
    id: b.id, name: b.name, scope: b.scope as Record<string, string[]>, window: b.window, tz: b.tz, limit_usd: nanosToUsd(b.limit_nanos),
    thresholds: b.thresholds,
    targets: b.targets.map((t) => (t.type === 'webhook' ? { type: t.type, url: t.url, secret_set: true } : { type: t.type, url: t.url })),
    created_at: b.created_at, updated_at: b.updated_at,
  };
}

/**
 * Webhook secrets are write-only: a target given without one keeps the secret of the stored
 * webhook target with the same URL, and a new one must bring its own.
 */
function withSecrets(targets: BudgetInput['targets'], stored: Budget | null): Target[] {
  return targets.map((t, i) => {
    if (t.type === 'slack') return t;
    const secret = t.secret ?? stored?.targets.find((s): s is Extract<Target, { type: 'webhook' }> => s.type === 'webhook' && s.url === t.url)?.secret;
    if (secret === undefined) throw badRequest(`targets[${i}].secret: required for a new webhook target (at least 16 characters)`);
    return { type: 'webhook', url: t.url, secret };
  });
}

/**
 * Budgets: create or replace, read, delete (admin); their status in the current window or the
 * window of an instant (read); a test notification to their targets (admin). See docs/budgets.md.
 */
export function registerBudgets(api: ReportingApi, deps: ReportingDeps): void {
  async function visibleBudget(c: Context<ReportingEnv>, id: string): Promise<Budget> {
    const budget = await c.var.store.budgets.get(id);
    if (!budget || !visibleTo(budget, c.var.principal)) throw notFound(`id: no budget "${id}"`);
    return budget;
  }

  async function visibleBudgets(c: Context<ReportingEnv>): Promise<Budget[]> {
    return (await c.var.store.budgets.list()).filter((b) => visibleTo(b, c.var.principal));
  }

  api.route({
    method: 'get', path: '/v1/budgets', tag: 'budgets', role: 'admin', query: NoQuery,
    summary: 'The budgets, by id (webhook secrets left out)',
    responses: { 200: { description: 'The budgets the key may see', schema: BudgetList } },
  }, async (c) => {
    return c.json({ budgets: (await visibleBudgets(c)).map(apiBudget) } satisfies z.infer<typeof BudgetList>);
  });

  // Registered before /v1/budgets/:id so that "status" is never taken for a budget id.
  api.route({
    method: 'get', path: '/v1/budgets/status', tag: 'budgets', role: 'read', query: StatusQuery,
    summary: 'Every budget\'s spend, forecast and thresholds in its current window (or the window holding `at`)',
    responses: { 200: { description: 'One status per budget the key may see', schema: StatusList } },
  }, async (c, { at }) => {
    const now = deps.now();
    const statuses = [];
    for (const b of await visibleBudgets(c)) statuses.push(apiStatus(await evaluate(c.var.store, b, at === undefined ? now : instantMs(at, b.tz))));
    return c.json({ budgets: statuses } satisfies z.infer<typeof StatusList>);
  });

  api.route({
    method: 'get', path: '/v1/budgets/:id', tag: 'budgets', role: 'admin', params: IdParams, query: NoQuery,
    summary: 'One budget', responses: { 200: { description: 'The budget', schema: ApiBudget } }, errors: [404],
  }, async (c, _q, { id }) => c.json(apiBudget(await visibleBudget(c, id))));

  api.route({
    method: 'put', path: '/v1/budgets/:id', tag: 'budgets', role: 'admin', params: IdParams, query: NoQuery,
    summary: 'Create or replace a budget',
    description: 'The whole budget: fields left out take their defaults. A webhook target given without `secret` keeps the secret stored for the same URL.',
    body: { schema: BudgetInput, example: EXAMPLE },
    responses: { 200: { description: 'Replaced', schema: ApiBudget }, 201: { description: 'Created', schema: ApiBudget } },
    errors: [409],
  }, async (c, _q, { id }) => {
    const input = await jsonBody(c, deps.bodies, BudgetInput);
    const { principal } = c.var;
    if (principal.projects !== null) {
      if (!input.scope.project) throw new ApiError(403, 'forbidden', 'scope.project: this key is scoped to projects; name one or more of them');
      requireProjects(principal, input.scope.project, 'budget');
    }
    const stored = await c.var.store.budgets.get(id);
    if (stored && !visibleTo(stored, principal)) throw new ApiError(403, 'forbidden', `id: this key may not change budget "${id}"`);
    if (!stored && (await c.var.store.budgets.list()).length >= deps.maxBudgets) {
      throw new ApiError(409, 'too_many_budgets', `id: ${deps.maxBudgets} budgets exist already (MAX_BUDGETS); delete one first`);
    }
    const { budget, created } = await c.var.store.budgets.save({
      id, name: input.name ?? id, scope: input.scope, window: input.window, tz: input.tz, limit_nanos: usdToNanos(input.limit_usd),
      thresholds: input.thresholds, targets: withSecrets(input.targets, stored),
    });
    return c.json(apiBudget(budget), created ? 201 : 200);
  });

  api.route({
    method: 'delete', path: '/v1/budgets/:id', tag: 'budgets', role: 'admin', params: IdParams, query: NoQuery,
    summary: 'Delete a budget', responses: { 200: { description: 'Deleted', schema: Deleted } }, errors: [404],
  }, async (c, _q, { id }) => {
    await visibleBudget(c, id);
    if (!(await c.var.store.budgets.delete(id))) throw notFound(`id: no budget "${id}"`);
    return c.json({ id, deleted: true } satisfies z.infer<typeof Deleted>);
  });

  api.route({
    method: 'get', path: '/v1/budgets/:id/status', tag: 'budgets', role: 'read', params: IdParams, query: StatusQuery,
    summary: 'A budget\'s spend, forecast and thresholds in its current window (or the window holding `at`)',
    responses: { 200: { description: 'The status', schema: ApiBudgetStatus } }, errors: [404],
  }, async (c, { at }, { id }) => {
    const budget = await visibleBudget(c, id);
    return c.json(apiStatus(await evaluate(c.var.store, budget, at === undefined ? deps.now() : instantMs(at, budget.tz))));
  });

  api.route({
    method: 'post', path: '/v1/budgets/:id/test', tag: 'budgets', role: 'admin', params: IdParams, query: NoQuery,
    summary: 'Send a test notification to each of the budget\'s targets now',
    description: 'Sent straight away, once, with the current status (`type: budget.test`); the answer says how each target took it.',
    responses: { 200: { description: 'Each target\'s outcome', schema: TestAnswer } }, errors: [404],
  }, async (c, _q, { id }) => {
    const budget = await visibleBudget(c, id);
    const now = deps.now();
    const status = await evaluate(c.var.store, budget, now);
    const results = await Promise.all(deliveriesFor('budget.test', status, null, now).map(async (d) => {
      try {
        await send(d, deps.notifyTimeoutMs);
        return { target: d.target_key, delivered: true };
      } catch (error) {
        return { target: d.target_key, delivered: false, error: failureMessage(error) };
      }
    }));
    return c.json({ results } satisfies z.infer<typeof TestAnswer>);
  });
}
