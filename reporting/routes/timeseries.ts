import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, TIME_BUCKETS, type Dimension, type Metrics, type TimeBucket } from '../../src/store/types.js';
import { isoUtc } from '../../src/time.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { enumerateBuckets } from '../buckets.js';
import { addMetrics, apiKey, apiMetrics, ZERO_METRICS } from '../metrics.js';
import { parseFilters, parseGroupBy, parseLimit, parseRange, parseZone, rejectUnknownParams, singleParam, zoneFor } from '../params.js';
import { plan } from '../planner.js';

const OTHER = '(other)';

interface Series {
  key: Record<string, string | null>;
  other?: true;
  points: Map<string, Metrics>;
  total: Metrics;
}

/**
 * GET /v1/reports/timeseries — one zero-filled series per group, bucketed by `interval` in `tz`.
 * The `limit` series with the highest cost are kept; the rest are summed into one "(other)" series.
 */
export function registerTimeseries(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/v1/reports/timeseries', async (c) => {
    rejectUnknownParams(c, ['interval', 'group_by', 'from', 'to', 'tz', 'limit']);
    const interval = (singleParam(c, 'interval') ?? 'day') as TimeBucket;
    if (!TIME_BUCKETS.includes(interval)) throw badRequest(`interval: "${interval}" is not one of ${TIME_BUCKETS.join(', ')}`);
    const groupBy = parseGroupBy(c, 'group_by', DIMENSIONS) as Dimension[];
    const zone = parseZone(c);
    const range = parseRange(c, deps.now(), zone);
    const limit = parseLimit(c, 20, 1000);
    const buckets = enumerateBuckets(interval, range.from, range.to, zone);
    const query = plan({ groupBy: [interval, ...groupBy], filters: parseFilters(c), ...range, zone: zoneFor(zone, range.from, range.to), order: null, limit: null });
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
    });
  });
}
