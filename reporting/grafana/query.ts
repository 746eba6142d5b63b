import { z } from 'zod';
import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, type AggregateGroup, type Dimension, type Filters, type Store, type TimeBucket } from '../../src/store/types.js';
import { RECORDS_PER_STEP, runInSlices, type Steps } from '../../collector/otlp/steps.js';
import { MAX_POINTS } from '../buckets.js';
import { mapLater } from '../json.js';
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

/**
 * Values of one dimension a request may list or match (variables, ad hoc filter keys, the values an
 * ad hoc filter other than `=` and `=|` is tested against): 100,000 distinct runs are a few MB.
 */
export const MAX_VALUES = 100_000;

/** The values `d` takes in the range, ascending; more than MAX_VALUES is a 400 naming `field`. */
export async function distinctValues(store: Store, d: Dimension, from: number, to: number, field: string): Promise<string[]> {
  const result = await store.aggregate(plan({ groupBy: [d], filters: {}, from, to, order: null, limit: MAX_VALUES }));
  if (result.more) {
    throw badRequest(`${field}: ${d} has more than ${MAX_VALUES.toLocaleString('en-US')} values in the range; choose a shorter range, or filter with = or =| (which need no list of values)`);
  }
  return result.groups.map((g) => g.key[d]!);
}

/**
 * Each series' answer (`answer`, pushed to `answers`) from its rows, named by `label`, in the
 * store's order: by bucket first, so each series ascends as Grafana needs without a sort. Made a
 * step at a time: up to MAX_POINTS rows, and as many series.
 */
function* seriesSteps(
  rows: readonly AggregateGroup[], label: (key: AggregateGroup['key']) => string,
  answer: (name: string, rows: AggregateGroup[]) => unknown, answers: unknown[],
): Steps<number> {
  const series = new Map<string, AggregateGroup[]>();
  for (let i = 0; i < rows.length; i++) {
    if (i % RECORDS_PER_STEP === 0) yield;
    const name = label(rows[i]!.key);
    const points = series.get(name);
    if (points) points.push(rows[i]!);
    else series.set(name, [rows[i]!]);
  }
  let made = 0;
  for (const [name, points] of series) {
    if (made++ % RECORDS_PER_STEP === 0) yield;
    answers.push(answer(name, points));
  }
  return made;
}

/**
 * Answers `POST /grafana/query`: a bare array of time series or tables, one or more per target.
 * Each target's rows are read with the points left of MAX_POINTS (shared by all targets) as their
 * limit, so no answer holds more; past it the query is refused, naming what the user can change.
 * Grafana's answer has no zero-filled buckets, so the points are the rows that hold data, however
 * many series times buckets that is.
 */
export async function runGrafanaQuery(store: Store, q: GrafanaQuery): Promise<unknown[]> {
  const from = Date.parse(q.range.from);
  const to = Date.parse(q.range.to);
  if (from > to) throw badRequest('range.from: is after range.to');
  const adhocField = q.filters ? 'filters' : 'adhocFilters';
  const adhoc = await adHocFilters((q.filters ?? q.adhocFilters ?? []) as AdHocFilter[], adhocField, (d, field) => distinctValues(store, d, from, to, field));
  const interval = chooseInterval(from, to, q.intervalMs, q.maxDataPoints);
  const answers: unknown[] = [];
  let points = 0;
  for (const [i, target] of q.targets.entries()) {
    if (target.hide) continue;
    const metric = (target.target || 'cost_usd') as GrafanaMetric;
    if (!Object.hasOwn(GRAFANA_METRICS, metric)) throw badRequest(`targets[].target: "${metric}" is not one of ${Object.keys(GRAFANA_METRICS).join(', ')}`);
    const payload = parsePayload(target.payload);
    const groupBy = groupByOf(payload);
    const filters = bothFilters(adhoc, payloadFilters(payload));
    const label = (key: Partial<Record<string, string>>) => groupBy.map((g) => key[g] || '(none)').join(' / ') || metric;
    const left = MAX_POINTS - points;
    const tooMany = (fields: string, what: string) => badRequest(
      `${groupBy.length ? `targets[${i}].payload.group_by, ` : ''}${fields}: ${metric}${groupBy.length ? ` by ${groupBy.join(', ')}` : ''} has more than ` +
      `${left.toLocaleString('en-US')} ${what}${points ? ` (of ${MAX_POINTS.toLocaleString('en-US')} per query, the targets before took ${points.toLocaleString('en-US')})` : ''}; ` +
      `group by fewer dimensions or filter them, or ask for ${fields === 'range' ? 'a shorter range' : 'fewer points (Max data points, Min interval) or a shorter range'}`,
    );
    if (payload.format === 'table') {
      const result = await store.aggregate(plan({ groupBy, filters, from, to, order: { by: 'cost_nanos', dir: 'desc' }, limit: left }));
      const rows = groupBy.length ? result.groups : [{ key: {}, metrics: result.totals }];
      // A table of totals is one row, even when the targets before took every point.
      if (result.more || rows.length > left) throw tooMany('range', 'rows');
      points += rows.length;
      answers.push({
        refId: target.refId, type: 'table',
        columns: [...groupBy.map((g) => ({ text: g, type: 'string' })), { text: metric, type: 'number' }],
        rows: mapLater(rows, (g) => [...groupBy.map((d) => g.key[d] ?? ''), apiMetrics(g.metrics)[metric]]),
      });
      continue;
    }
    const result = await store.aggregate(plan({ groupBy: [interval, ...groupBy], filters, from, to, order: null, limit: left }));
    if (result.more) throw tooMany('maxDataPoints, intervalMs, range', `points (${interval} buckets with data${groupBy.length ? ' in each series' : ''})`);
    points += result.groups.length;
    const answer = (name: string, rows: AggregateGroup[]) =>
      ({ refId: target.refId, target: name, datapoints: mapLater(rows, (g) => [apiMetrics(g.metrics)[metric], bucketMs(g.key[interval]!)]) });
    const made = await runInSlices(seriesSteps(result.groups, label, answer, answers));
    if (made === 0 && groupBy.length === 0) answers.push(answer(metric, []));
  }
  return answers;
}
