import { z } from 'zod';
import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, type Dimension, type Filters, type Store, type TimeBucket } from '../../src/store/types.js';
import { apiMetrics } from '../metrics.js';
import { plan } from '../../src/store/planner.js';
import { GRAFANA_METRICS, type GrafanaMetric } from './catalog.js';
import { adHocFilters, intersect, payloadFilters, variableValues, type AdHocFilter } from './filters.js';

const AdHoc = z.looseObject({ key: z.string(), operator: z.string(), value: z.string().optional(), values: z.array(z.string()).optional() });

/** The parts of Grafana's query body we use; Grafana sends many more fields, all ignored. */
export const GrafanaQuery = z.looseObject({
  range: z.looseObject({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) }),
  intervalMs: z.number().positive().optional(),
  maxDataPoints: z.number().int().positive().optional(),
  targets: z.array(z.looseObject({
    refId: z.string().optional(),
    target: z.string().optional(),
    payload: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
    hide: z.boolean().optional(),
  })),
  filters: z.array(AdHoc).optional(),
  adhocFilters: z.array(AdHoc).optional(),
});
export type GrafanaQuery = z.infer<typeof GrafanaQuery>;

const BUCKET_MS: [TimeBucket, number][] = [['hour', 3_600_000], ['day', 86_400_000], ['week', 7 * 86_400_000], ['month', 31 * 86_400_000]];

/** The finest bucket no finer than Grafana's interval that keeps the points within maxDataPoints. */
export function chooseInterval(from: number, to: number, intervalMs = 0, maxDataPoints = 1000): TimeBucket {
  const fit = BUCKET_MS.find(([, ms]) => ms >= intervalMs && (to - from) / ms <= maxDataPoints);
  return (fit ?? BUCKET_MS[BUCKET_MS.length - 1]!)[0];
}

/** Bucket keys as the store spells them (UTC), as epoch ms. */
function bucketMs(key: string): number {
  return Date.parse(key.length === 7 ? `${key}-01T00:00:00Z` : key.length === 10 ? `${key}T00:00:00Z` : key);
}

function bothFilters(a: Filters, b: Filters): Filters {
  const out: Filters = { ...a };
  for (const [d, values] of Object.entries(b) as [Dimension, string[]][]) out[d] = out[d] ? intersect(out[d]!, values) : values;
  return out;
}

function parsePayload(payload: Record<string, unknown> | string | undefined): Record<string, unknown> {
  if (payload === undefined || payload === '') return {};
  if (typeof payload !== 'string') return payload;
  try {
    return z.record(z.string(), z.unknown()).parse(JSON.parse(payload));
  } catch {
    throw badRequest('targets[].payload: not a JSON object');
  }
}

function groupByOf(payload: Record<string, unknown>): Dimension[] {
  const raw = payload.group_by;
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? (variableValues(raw) ?? []).flatMap((v) => v.split(',')) : [];
  const dims = list.map((s) => s.trim()).filter((s) => s !== '' && s !== 'none');
  for (const d of dims) if (!DIMENSIONS.includes(d as Dimension)) throw badRequest(`targets[].payload.group_by: unknown dimension "${d}"`);
  return dims as Dimension[];
}

export async function distinctValues(store: Store, d: Dimension, from: number, to: number): Promise<string[]> {
  const result = await store.aggregate(plan({ groupBy: [d], filters: {}, from, to, order: null, limit: null }));
  return result.groups.map((g) => g.key[d]!);
}

/** Answers `POST /grafana/query`: a bare array of time series or tables, one or more per target. */
export async function runGrafanaQuery(store: Store, q: GrafanaQuery): Promise<unknown[]> {
  const from = Date.parse(q.range.from);
  const to = Date.parse(q.range.to);
  if (from > to) throw badRequest('range.from: is after range.to');
  const adhoc = await adHocFilters((q.filters ?? q.adhocFilters ?? []) as AdHocFilter[], (d) => distinctValues(store, d, from, to));
  const interval = chooseInterval(from, to, q.intervalMs, q.maxDataPoints);
  const answers: unknown[] = [];
  for (const target of q.targets) {
    if (target.hide) continue;
    const metric = (target.target || 'cost_usd') as GrafanaMetric;
    if (!(metric in GRAFANA_METRICS)) throw badRequest(`targets[].target: "${metric}" is not one of ${Object.keys(GRAFANA_METRICS).join(', ')}`);
    const payload = parsePayload(target.payload);
    const groupBy = groupByOf(payload);
    const filters = bothFilters(adhoc, payloadFilters(payload));
    const label = (key: Partial<Record<string, string>>) => groupBy.map((g) => key[g] || '(none)').join(' / ') || metric;
    if (payload.format === 'table') {
      const result = await store.aggregate(plan({ groupBy, filters, from, to, order: { by: 'cost_nanos', dir: 'desc' }, limit: null }));
      const rows = groupBy.length ? result.groups : [{ key: {}, metrics: result.totals }];
      answers.push({
        refId: target.refId, type: 'table',
        columns: [...groupBy.map((g) => ({ text: g, type: 'string' })), { text: metric, type: 'number' }],
        rows: rows.map((g) => [...groupBy.map((d) => g.key[d] ?? ''), apiMetrics(g.metrics)[metric]]),
      });
      continue;
    }
    const result = await store.aggregate(plan({ groupBy: [interval, ...groupBy], filters, from, to, order: null, limit: null }));
    const series = new Map<string, [number | bigint, number][]>();
    for (const g of result.groups) {
      const name = label(g.key);
      const points = series.get(name) ?? [];
      points.push([apiMetrics(g.metrics)[metric], bucketMs(g.key[interval]!)]);
      series.set(name, points);
    }
    if (series.size === 0 && groupBy.length === 0) series.set(metric, []);
    for (const [name, datapoints] of series) answers.push({ refId: target.refId, target: name, datapoints: datapoints.sort((a, b) => a[1] - b[1]) });
  }
  return answers;
}
