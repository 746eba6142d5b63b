import { z } from 'zod';
import { requireProjects } from '../../src/auth/scope.js';
import { BUDGET_DIMENSIONS, visibleTo, type BudgetDimension } from '../../src/budgets/schema.js';
import { ApiBudgetStatus, apiStatus, type BudgetState, type BudgetStatus } from '../../src/budgets/status.js';
import { ApiError } from '../../src/http/errors.js';
import { once } from '../../src/http/query.js';
import type { CollectorApi } from '../app.js';

const param = (d: BudgetDimension) => once(z.string().max(256)).optional().describe(`the ${d} the coming call is for`);
const Query = z.strictObject(Object.fromEntries(BUDGET_DIMENSIONS.map((d) => [d, param(d)])) as Record<BudgetDimension, ReturnType<typeof param>>);

const Answer = z.object({
  state: z.enum(['ok', 'near', 'over']).describe('the worst of the budgets listed; ok when none covers the values'),
  budgets: z.array(ApiBudgetStatus).describe('the budgets covering the values, over first, then near, then ok'),
});

const RANK: Record<BudgetState, number> = { over: 0, near: 1, ok: 2 };
/** About when the next look at the budgets is made (BUDGET_EVALUATE_MS by default). */
const BUDGETS_RETRY_AFTER_SECONDS = 2;

/**
 * A budget covers a call when every dimension it is scoped by is given with one of its values;
 * dimensions it is not scoped by match anything (a budget without scope covers every call).
 */
function covers(status: BudgetStatus, values: Partial<Record<BudgetDimension, string>>): boolean {
  return Object.entries(status.budget.scope).every(([d, allowed]) => {
    const value = values[d as BudgetDimension];
    return value !== undefined && (allowed ?? []).includes(value);
  });
}

/**
 * GET /v1/budgets/check — for an agent about to make a call: the budgets covering it and how close
 * each is to its limit. Answered from the evaluator's last pass (BUDGET_EVALUATE_MS old while the database answers), never
 * from the database, so it stays cheap however many events are stored. While the budgets are not
 * known (not listed yet, or not evaluated), 503: an agent told "ok" would spend past its limit.
 */
export function registerBudgetsCheck(api: CollectorApi, statuses: () => Promise<readonly BudgetStatus[] | null>): void {
  api.route({
    method: 'get', path: '/v1/budgets/check', tag: 'budgets', role: 'ingest', query: Query,
    summary: 'Which budgets covering a call are over or near their limit',
    description: 'Figures from the collector\'s last evaluation (`as_of`): every BUDGET_EVALUATE_MS while the database can be read, else the last one made. A budget covers the call when each dimension it is scoped by is given here with one of its values. 503 `budgets_unknown` while no evaluation has been made (at start, with the database unavailable).',
    responses: { 200: { description: 'The covering budgets, worst first', schema: Answer } },
  }, async (c, query) => {
    if (query.project !== undefined) requireProjects(c.var.principal, [query.project], 'check budgets of');
    const known = await statuses();
    if (known === null) throw new ApiError(503, 'budgets_unknown', 'the budgets are not evaluated yet (the database is unavailable, or the evaluator failed: see the log); retry later', BUDGETS_RETRY_AFTER_SECONDS);
    const covering = known
      .filter((s) => visibleTo(s.budget, c.var.principal) && covers(s, query))
      .map(apiStatus)
      .sort((a, b) => RANK[a.state] - RANK[b.state] || b.ratio - a.ratio);
    const state = covering[0]?.state ?? 'ok';
    return c.json({ state, budgets: covering } satisfies z.infer<typeof Answer>);
  });
}
