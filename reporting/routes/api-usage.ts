import { z } from 'zod';
import { nanosToUsd } from '../../src/event/normalise.js';
import { badRequest, quoteInput } from '../../src/http/errors.js';
import { once } from '../../src/http/query.js';
import type { ExactMetrics } from '../../src/store/types.js';
import { count, countIn } from '../metrics.js';
import { exactJsonAnswer } from '../json.js';
import type { ReportingApi } from '../app.js';
import { FILTER_PARAMS, filtersOf, instantMs, instantParam } from '../params.js';
import { plan } from '../../src/store/planner.js';

const GROUPS = ['agent', 'model', 'task', 'day'] as const;
const ALL_TIME = { from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1) };
const DAY_MS = 86_400_000;

const Query = z.strictObject({
  group_by: once(z.enum(GROUPS, { error: (issue) => `${quoteInput(issue.input)} is not one of ${GROUPS.join(', ')}` }))
    .optional().meta({ description: 'One grouping.', example: 'model' }),
  from_date: instantParam('First day, inclusive (UTC).', '2026-11-01'),
  to_date: instantParam('Last day, inclusive (UTC).', '2026-11-30'),
  ...FILTER_PARAMS,
});

const OriginalTotals = z.object({
  totalInputTokens: count,
  totalOutputTokens: count,
  totalCostUsd: z.number(),
  recordCount: count,
});

const OriginalReport = OriginalTotals.extend({
  groups: z.array(OriginalTotals.extend({ groupKey: z.string().nullable() })),
});

function originalTotals(m: ExactMetrics): z.infer<typeof OriginalTotals> {
  return {
    totalInputTokens: countIn(m, 'input_tokens'),
    totalOutputTokens: countIn(m, 'output_tokens'),
    totalCostUsd: nanosToUsd(m.cost_nanos),
    recordCount: countIn(m, 'events'),
  };
}

/**
 * GET /api/usage — the aggregate of the original usage service, with its names: one optional
 * group_by (agent, model, task, day), dates from_date/to_date (both inclusive), agent_id, model.
 */
export function registerApiUsageReport(api: ReportingApi): void {
  api.route({
    method: 'get', path: '/api/usage', tag: 'original-api', role: 'read', query: Query,
    summary: 'The original usage aggregate',
    description: 'Totals with camelCase names and one optional grouping, as the original usage service answered; the filters of the other reports apply too.',
    responses: { 200: { description: 'Totals and groups', schema: OriginalReport } },
  }, async (c, q) => {
    const group = q.group_by;
    const from = q.from_date === undefined ? ALL_TIME.from : instantMs(q.from_date);
    const to = q.to_date === undefined ? ALL_TIME.to : instantMs(q.to_date) + DAY_MS;
    if (from >= to) throw badRequest('from_date: is after to_date');
    const result = await c.var.store.aggregate(
      plan({ groupBy: group ? [group] : [], filters: filtersOf(q), from, to, order: group === 'day' ? null : { by: 'cost_nanos', dir: 'desc' }, limit: null }),
    );
    return exactJsonAnswer(c, {
      ...originalTotals(result.totals),
      groups: result.groups.map((g) => ({ groupKey: g.key[group!] || null, ...originalTotals(g.metrics) })),
    } satisfies z.infer<typeof OriginalReport>);
  });
}
