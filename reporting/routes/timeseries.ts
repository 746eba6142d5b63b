import { z } from 'zod';
import { once } from '../../src/http/query.js';
import { DIMENSIONS, TIME_BUCKETS, type Metrics } from '../../src/store/types.js';
import { isoUtc } from '../../src/time.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { enumerateBuckets } from '../buckets.js';
import { addMetrics, ApiKey, apiKey, ApiMetrics, apiMetrics, ZERO_METRICS } from '../metrics.js';
import { FILTER_PARAMS, filtersOf, groupByParam, limitParam, RANGE_PARAMS, rangeOf, tzParam, zoneFor } from '../params.js';
import { plan } from '../planner.js';

const OTHER = '(other)';

interface Series {
  key: Record<string, string | null>;
  other?: true;
  points: Map<string, Metrics>;
  total: Metrics;
}

const Query = z.strictObject({
  interval: once(z.enum(TIME_BUCKETS, { error: (issue) => `"${String(issue.input)}" is not one of ${TIME_BUCKETS.join(', ')}` }).default('day'))
    .meta({ description: 'Bucket size, in `tz`.', example: 'day' }),
  group_by: groupByParam(DIMENSIONS),
  ...RANGE_PARAMS,
  tz: tzParam,
  limit: limitParam(20, 1000, `At most this many series (the costliest); the rest are summed into one "${OTHER}" series.`),
  ...FILTER_PARAMS,
});

const Timeseries = z.object({
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  tz: z.string(),
  interval: z.enum(TIME_BUCKETS),
  source: z.enum(['rollup', 'raw']),
  group_by: z.array(z.string()),
  totals: ApiMetrics,
  buckets: z.array(z.string()).describe('bucket keys, ascending, every bucket of the range'),
  series: z.array(z.object({
    key: ApiKey,
    other: z.literal(true).optional(),
    points: z.array(ApiMetrics.extend({ bucket: z.string() })).describe('one point per bucket, zero-filled'),
  })),
});

/**
 * GET /v1/reports/timeseries — one zero-filled series per group, bucketed by `interval` in `tz`.
 * The `limit` series with the highest cost are kept; the rest are summed into one "(other)" series.
 */
export function registerTimeseries(api: ReportingApi, deps: ReportingDeps): void {
  api.route({
    method: 'get', path: '/v1/reports/timeseries', tag: 'reports', role: 'read', query: Query,
    summary: 'Zero-filled time series, one per group',
    responses: { 200: { description: 'The series', schema: Timeseries } },
  }, async (c, q) => {
    const { interval, group_by: groupBy, tz: zone, limit } = q;
    const range = rangeOf(q, deps.now(), zone);
    const buckets = enumerateBuckets(interval, range.from, range.to, zone);
    const query = plan({ groupBy: [interval, ...groupBy], filters: filtersOf(q), ...range, zone: zoneFor(zone, range.from, range.to), order: null, limit: null });
    const result = await c.var.store.aggregate(query);

    const series = new Map<string, Series>();
    for (const row of result.groups) {
      const key = apiKey(Object.fromEntries(groupBy.map((g) => [g, row.key[g] ?? ''])));
      const id = JSON.stringify(key);
      const s = series.get(id) ?? { key, points: new Map(), total: ZERO_METRICS };
      s.points.set(row.key[interval]!, row.metrics);
      s.total = addMetrics(s.total, row.metrics);
      series.set(id, s);
    }
    const ranked = [...series.values()].sort((a, b) => b.total.cost_nanos - a.total.cost_nanos || b.total.events - a.total.events);
    const kept = ranked.slice(0, limit);
    const rest = ranked.slice(limit);
    if (rest.length > 0) {
      const other: Series = { key: Object.fromEntries(groupBy.map((g) => [g, OTHER])), other: true, points: new Map(), total: ZERO_METRICS };
      for (const s of rest) for (const [bucket, m] of s.points) other.points.set(bucket, addMetrics(other.points.get(bucket) ?? ZERO_METRICS, m));
      kept.push(other);
    }
    if (kept.length === 0 && groupBy.length === 0) kept.push({ key: {}, points: new Map(), total: ZERO_METRICS });

    return c.json({
      from: isoUtc(range.from),
      to: isoUtc(range.to),
      tz: zone,
      interval,
      source: query.source,
      group_by: groupBy,
      totals: apiMetrics(result.totals),
      buckets,
      series: kept.map((s) => ({
        key: s.key,
        ...(s.other ? { other: true } : {}),
        points: buckets.map((bucket) => ({ bucket, ...apiMetrics(s.points.get(bucket) ?? ZERO_METRICS) })),
      })),
    } satisfies z.infer<typeof Timeseries>);
  });
}
