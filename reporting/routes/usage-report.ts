import { isoUtc } from '../../src/time.js';
import { stringify } from 'csv-stringify/sync';
import { badRequest } from '../../src/http/errors.js';
import { TIME_BUCKETS, type TimeBucket } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { addMetrics, apiKey, apiMetrics, subtractMetrics, ZERO_METRICS } from '../metrics.js';
import {
  parseFilters, parseGroupBy, parseLimit, parseOrder, parseRange, parseZone, rejectUnknownParams, singleParam, zoneFor,
} from '../params.js';
import { plan } from '../planner.js';

const OTHER = '(other)';

/** GET /v1/reports/usage — totals plus groups, from the rollup whenever the question allows it. */
export function registerUsageReport(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/v1/reports/usage', async (c) => {
    rejectUnknownParams(c, ['group_by', 'from', 'to', 'limit', 'order', 'format', 'tz']);
    const format = singleParam(c, 'format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw badRequest(`format: "${format}" is not json or csv`);
    const groupBy = parseGroupBy(c);
    const byTime = groupBy.some((g) => TIME_BUCKETS.includes(g as TimeBucket));
    const zone = parseZone(c);
    const range = parseRange(c, deps.now(), zone);
    const query = plan({
      groupBy,
      filters: parseFilters(c),
      ...range,
      zone: zoneFor(zone, range.from, range.to),
      order: parseOrder(c) ?? (byTime ? null : { by: 'cost_nanos', dir: 'desc' }),
      limit: parseLimit(c, 1000, 10_000),
    });
    const result = await c.var.store.aggregate(query);
    const groups: { key: Record<string, string | null>; other?: true }[] = result.groups.map((g) => ({ key: apiKey(g.key), ...apiMetrics(g.metrics) }));
    if (result.more) {
      // Everything past the limit, folded into one group: the totals less what was shown.
      const shown = result.groups.reduce((sum, g) => addMetrics(sum, g.metrics), ZERO_METRICS);
      const key = Object.fromEntries(groupBy.map((g) => [g, OTHER]));
      groups.push({ key, other: true, ...apiMetrics(subtractMetrics(result.totals, shown)) });
    }
    // Models without a price, so no spend silently reads as $0; raw events are read only when the
    // totals say there are some.
    const unpriced = result.totals.unpriced_events === 0 ? [] : (await c.var.store.aggregate(plan({
      groupBy: ['model', 'provider'], filters: { ...query.filters, cost_source: ['unpriced'] }, from: query.from, to: query.to,
      order: { by: 'events', dir: 'desc' }, limit: null,
    }))).groups.map((g) => ({ ...apiKey(g.key), events: g.metrics.events, input_tokens: g.metrics.input_tokens, output_tokens: g.metrics.output_tokens }));
    if (format === 'csv') {
      const rows = groupBy.length ? groups : [{ key: {}, ...apiMetrics(result.totals) }];
      const csv = stringify(rows.map(({ key, ...metrics }) => ({ ...key, ...metrics })), { header: true, columns: [...groupBy, ...Object.keys(apiMetrics(result.totals))] });
      return c.body(csv, 200, { 'Content-Type': 'text/csv; charset=utf-8' });
    }
    return c.json({
      from: isoUtc(query.from),
      to: isoUtc(query.to),
      tz: zone,
      source: query.source,
      group_by: groupBy,
      totals: apiMetrics(result.totals),
      groups,
      unpriced_models: unpriced,
    });
  });
}
