import { nanosToUsd } from '../../src/event/normalise.js';
import { badRequest } from '../../src/http/errors.js';
import type { Filters, GroupKey, Metrics } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { listParam, parseInstant, rejectUnknownParams, singleParam } from '../params.js';
import { plan } from '../planner.js';

const GROUPS: Record<string, GroupKey> = { agent: 'agent', model: 'model', task: 'task', day: 'day' };
const ALL_TIME = { from: Date.UTC(2000, 0, 1), to: Date.UTC(2100, 0, 1) };
const DAY_MS = 86_400_000;

function seedTotals(m: Metrics) {
  return {
    totalInputTokens: m.input_tokens,
    totalOutputTokens: m.output_tokens,
    totalCostUsd: nanosToUsd(m.cost_nanos),
    recordCount: m.events,
  };
}

/**
 * GET /api/usage — the aggregate of the original usage service, with its names: one optional
 * group_by (agent, model, task, day), dates from_date/to_date (both inclusive), agent_id, model.
 */
export function registerSeedUsageReport(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/api/usage', async (c) => {
    rejectUnknownParams(c, ['group_by', 'from_date', 'to_date']);
    const groupText = singleParam(c, 'group_by');
    const group = groupText === undefined ? undefined : GROUPS[groupText];
    if (groupText !== undefined && !group) throw badRequest(`group_by: "${groupText}" is not one of agent, model, task, day`);
    const fromDate = singleParam(c, 'from_date');
    const toDate = singleParam(c, 'to_date');
    const from = fromDate === undefined ? ALL_TIME.from : parseInstant('from_date', fromDate);
    const to = toDate === undefined ? ALL_TIME.to : parseInstant('to_date', toDate) + DAY_MS;
    if (from >= to) throw badRequest('from_date: is after to_date');
    const filters: Filters = {};
    const agents = listParam(c, 'agent_id');
    const models = listParam(c, 'model');
    if (agents.length) filters.agent = agents;
    if (models.length) filters.model = models;
    const result = await c.var.store.aggregate(
      plan({ groupBy: group ? [group] : [], filters, from, to, order: group === 'day' ? null : { by: 'cost_nanos', dir: 'desc' }, limit: null }),
    );
    return c.json({
      ...seedTotals(result.totals),
      groups: result.groups.map((g) => ({ groupKey: g.key[group!] || null, ...seedTotals(g.metrics) })),
    });
  });
}
