import { z } from 'zod';
import { badRequest, quoteInput } from '../../src/http/errors.js';
import { once } from '../../src/http/query.js';
import { DIMENSIONS, TIME_BUCKETS, type AggregateGroup, type AggregateQuery, type Dimension, type ExactMetrics, type Filters } from '../../src/store/types.js';
import { isoUtc } from '../../src/time.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { enumerateBuckets, MAX_POINTS } from '../buckets.js';
import { ApiKey, apiKey, ApiMetrics, apiMetrics, subtractMetrics, ZERO_METRICS } from '../metrics.js';
import { exactJsonAnswer, mapLater } from '../json.js';
import { FILTER_PARAMS, filtersOf, groupByParam, limitParam, RANGE_PARAMS, rangeOf, tzParam, zoneFor } from '../params.js';
import { plan } from '../../src/store/planner.js';

const OTHER = '(other)';

interface Series {
  key: Record<string, string | null>;
  other?: true;
  points: Map<string, ExactMetrics>;
}

const Query = z.strictObject({
  interval: once(z.enum(TIME_BUCKETS, { error: (issue) => `${quoteInput(issue.input)} is not one of ${TIME_BUCKETS.join(', ')}` }).default('day'))
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
    const segments = await zoneFor(zone, range.from, range.to, [interval]);
    const buckets = enumerateBuckets(interval, range.from, range.to, zone);
    const filters = filtersOf(q);
    const bucketed = (dimensions: Dimension[], only: Filters, tuples?: AggregateQuery['tuples']) =>
      plan({ groupBy: [interval, ...dimensions], filters: only, ...(tuples && { tuples }), ...range, zone: segments, order: null, limit: null });
    // The costliest groups are chosen first, so only their rows are read bucket by bucket, however
    // many groups there are (100,000 projects); the rest is the totals per bucket less theirs. By
    // several dimensions, their key tuples: each dimension's top values would also pass the other
    // combinations of them (the top 1,000 project × user pairs of docs/benchmarks.md: 11,459 rows
    // by day instead of 1,068).
    const top = groupBy.length
      ? await c.var.store.aggregate(plan({ groupBy, filters, ...range, order: { by: 'cost_nanos', dir: 'desc' }, limit }))
      : { totals: null, groups: [{ key: {} as AggregateGroup['key'] }], more: false };
    const seriesCount = top.groups.length + (top.more ? 1 : 0);
    if (seriesCount * buckets.length > MAX_POINTS) {
      throw badRequest(`limit, interval: ${seriesCount} series of ${buckets.length} ${interval} buckets are more than ${MAX_POINTS.toLocaleString('en-US')} points; lower limit, or choose a longer interval or a shorter range`);
    }
    const keptValues = Object.fromEntries(groupBy.map((g) => [g, [...new Set(top.groups.map((t) => t.key[g]!))]]));
    const tuples = groupBy.length > 1 ? { dimensions: groupBy, values: top.groups.map((t) => groupBy.map((g) => t.key[g]!)) } : undefined;
    const query = bucketed(groupBy, { ...filters, ...keptValues }, tuples);
    const result = await c.var.store.aggregate(query);
    const idOf = (key: Partial<Record<string, string>>) => JSON.stringify(groupBy.map((g) => key[g]));

    const series = new Map<string, Series>(top.groups.map((t) => [idOf(t.key), { key: apiKey(t.key), points: new Map() }]));
    for (const row of result.groups) series.get(idOf(row.key))?.points.set(row.key[interval]!, row.metrics);
    const kept = [...series.values()];
    if (top.more) {
      const other: Series = { key: Object.fromEntries(groupBy.map((g) => [g, OTHER])), other: true, points: new Map() };
      for (const row of (await c.var.store.aggregate(bucketed([], filters))).groups) other.points.set(row.key[interval]!, row.metrics);
      for (const s of kept) for (const [bucket, m] of s.points) other.points.set(bucket, subtractMetrics(other.points.get(bucket)!, m));
      kept.push(other);
    }

    return exactJsonAnswer(c, {
      from: isoUtc(range.from),
      to: isoUtc(range.to),
      tz: zone,
      interval,
      source: query.source,
      group_by: groupBy,
      totals: apiMetrics(top.totals ?? result.totals),
      buckets,
      // A series' points are made as it is written (1,000 series of up to 10,000 points), not all before.
      series: mapLater(kept, (s) => ({
        key: s.key,
        ...(s.other ? { other: true } : {}),
        points: buckets.map((bucket) => ({ bucket, ...apiMetrics(s.points.get(bucket) ?? ZERO_METRICS) })),
      })),
    } satisfies z.infer<typeof Timeseries>);
  });
}
