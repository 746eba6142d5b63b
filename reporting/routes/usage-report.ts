import { isoUtc } from '../../src/time.js';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { quoteInput } from '../../src/http/errors.js';
import { once } from '../../src/http/query.js';
import { TIME_BUCKETS, type ExactMetrics, type GroupKey, type TimeBucket } from '../../src/store/types.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { ApiKey, apiKey, ApiMetrics, apiMetrics, count, countIn, restOf } from '../metrics.js';
import { exactJsonAnswer, mapLater, slicedAnswer, slices } from '../json.js';
import { FILTER_PARAMS, filtersOf, GROUP_KEYS, groupByParam, limitParam, orderParam, RANGE_PARAMS, rangeOf, tzParam, zoneFor } from '../params.js';
import { plan } from '../../src/store/planner.js';

const OTHER = '(other)';

const Query = z.strictObject({
  group_by: groupByParam(GROUP_KEYS).meta({ example: ['model'] }),
  ...RANGE_PARAMS,
  tz: tzParam,
  order: orderParam,
  limit: limitParam(1000, 10_000, `At most this many groups; the rest are folded into one "${OTHER}" group.`),
  format: once(z.enum(['json', 'csv'], { error: (issue) => `${quoteInput(issue.input)} is not json or csv` }).default('json')).describe('json, or csv (one row per group)'),
  ...FILTER_PARAMS,
});

/** Unpriced models listed by name; the rest are summed. */
const UNPRICED_LISTED = 50;
const UnpricedUsage = z.object({ events: count, input_tokens: count, output_tokens: count });

const Group = ApiMetrics.extend({ key: ApiKey, other: z.literal(true).optional().describe(`set on the "${OTHER}" group`) });

const UsageReport = z.object({
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  tz: z.string(),
  source: z.enum(['rollup', 'raw']).describe('usage_daily or the raw events: the numbers are the same either way'),
  group_by: z.array(z.string()),
  totals: ApiMetrics,
  groups: z.array(Group),
  unpriced_models: z.array(UnpricedUsage.extend({ model: z.string().nullable(), provider: z.string().nullable() }))
    .describe(`models without a price in the range (from the raw events kept, under RAW_RETENTION_DAYS), the ${UNPRICED_LISTED} with the most events: their events count at $0`),
  unpriced_models_rest: UnpricedUsage.nullable()
    .describe(`the unpriced models past the first ${UNPRICED_LISTED}, summed; null when every one is listed`),
});

/** A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * The group's key as CSV text cells, each that a spreadsheet would take for a formula led by a
 * single quote (OWASP's neutralisation). Metric cells are numbers and are written as they are.
 */
function textCells(key: Record<string, string | null>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(key).map(([k, v]) => [k, v !== null && FORMULA_START.test(v) ? `'${v}` : v]));
}

/** GET /v1/reports/usage — totals plus groups, from the rollup whenever the question allows it. */
export function registerUsageReport(api: ReportingApi, deps: ReportingDeps): void {
  api.route({
    method: 'get', path: '/v1/reports/usage', tag: 'reports', role: 'read', query: Query,
    summary: 'Totals plus groups',
    description: 'Token and cost totals for a range, grouped by any dimensions and time buckets, filtered by any dimension.',
    responses: { 200: { description: 'The report; with format=csv, one CSV row per group', schema: UsageReport, text: 'text/csv' } },
  }, async (c, q) => {
    const groupBy = q.group_by;
    const byTime = groupBy.some((g) => TIME_BUCKETS.includes(g as TimeBucket));
    const range = rangeOf(q, deps.now(), q.tz);
    const query = plan({
      groupBy,
      filters: filtersOf(q),
      ...range,
      zone: await zoneFor(q.tz, range.from, range.to, groupBy),
      order: q.order ?? (byTime ? null : { by: 'cost_nanos', dir: 'desc' }),
      limit: q.limit,
    });
    const result = await c.var.store.aggregate(query);
    const listed: { key: Partial<Record<GroupKey, string>>; metrics: ExactMetrics; other?: true }[] = result.more
      // Everything past the limit, folded into one group: the totals less what was shown.
      ? [...result.groups, { key: Object.fromEntries(groupBy.map((g) => [g, OTHER])), metrics: restOf(result.totals, result.groups), other: true }]
      : result.groups;
    // Made as they are written (up to 10,000 groups), not all before.
    const apiGroup = (g: (typeof listed)[number]): z.infer<typeof Group> =>
      ({ key: apiKey(g.key), ...(g.other && { other: true as const }), ...apiMetrics(g.metrics) });
    // Models without a price, so no spend silently reads as $0; raw events are read only when the
    // totals say there are some, and only those kept under RAW_RETENTION_DAYS.
    const unpricedFrom = result.totals.unpriced_events === 0 ? query.to : Math.max(query.from, (await c.var.store.rawHorizon()) ?? 0);
    const unpriced = unpricedFrom >= query.to ? null : await c.var.store.aggregate(plan({
      groupBy: ['model', 'provider'], filters: { ...query.filters, cost_source: ['unpriced'] }, from: unpricedFrom, to: query.to,
      order: { by: 'events', dir: 'desc' }, limit: UNPRICED_LISTED,
    }));
    const usage = (m: ExactMetrics) => ({
      events: countIn(m, 'events'), input_tokens: countIn(m, 'input_tokens'), output_tokens: countIn(m, 'output_tokens'),
    });
    const unpricedModels = (unpriced?.groups ?? []).map((g) => ({ model: g.key.model || null, provider: g.key.provider || null, ...usage(g.metrics) }));
    const unpricedRest = unpriced?.more
      ? usage(restOf(unpriced.totals, unpriced.groups))
      : null;
    if (q.format === 'csv') {
      const rows = groupBy.length ? listed : [{ key: {}, metrics: result.totals }];
      const columns = [...groupBy, ...Object.keys(apiMetrics(result.totals))];
      const csv = slices(rows, (slice, header) => stringify(slice.map((g) => ({ ...textCells(apiKey(g.key)), ...apiMetrics(g.metrics) })), { header, columns }));
      return slicedAnswer(c, csv, 200, 'text/csv; charset=utf-8');
    }
    return exactJsonAnswer(c, {
      from: isoUtc(query.from),
      to: isoUtc(query.to),
      tz: q.tz,
      source: query.source,
      group_by: groupBy,
      totals: apiMetrics(result.totals),
      groups: mapLater(listed, apiGroup),
      unpriced_models: unpricedModels,
      unpriced_models_rest: unpricedRest,
    } satisfies z.infer<typeof UsageReport>);
  });
}
