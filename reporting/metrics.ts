import { z } from 'zod';
import { nanosToUsd } from '../src/event/normalise.js';
import { METRIC_NAMES, type ExactMetrics, type GroupKey, type Metrics } from '../src/store/types.js';

/**
 * A count: a number, or past 2^53 − 1 a BigInt, written into the JSON text as its exact digits
 * (reporting/json.ts).
 */
export const count = z.custom<number | bigint>((v) => (typeof v === 'bigint' ? v >= 0n : Number.isSafeInteger(v) && (v as number) >= 0))
  .meta({ type: 'integer', minimum: 0 });
const usd = z.number().describe('US dollars');

/** Metrics as every report spells them: tokens by type, totals, cost and cost by source. */
export const ApiMetrics = z.object({
  events: count,
  input_tokens: count.describe('all input tokens, cached ones included'),
  output_tokens: count.describe('all output tokens, reasoning ones included'),
  cache_read_tokens: count,
  cache_write_tokens: count,
  reasoning_tokens: count,
  total_tokens: count.describe('input_tokens + output_tokens'),
  cost_usd: usd,
  cost_reported_usd: usd.describe('the part of cost_usd that clients reported'),
  cost_computed_usd: usd.describe('the part of cost_usd computed from the price table'),
  unpriced_events: count.describe('events of models without a price, counted at $0'),
});
export type ApiMetrics = z.infer<typeof ApiMetrics>;

/** A group's key: the dimensions grouped by, null where the events had no value. */
export const ApiKey = z.record(z.string(), z.string().nullable());

export function apiMetrics(m: ExactMetrics): ApiMetrics {
  if (m.exact) return exactApiMetrics(m);
  const total = m.input_tokens + m.output_tokens;
  return {
    events: m.events,
    input_tokens: m.input_tokens,
    output_tokens: m.output_tokens,
    cache_read_tokens: m.cache_read_tokens,
    cache_write_tokens: m.cache_write_tokens,
    reasoning_tokens: m.reasoning_tokens,
    total_tokens: Number.isSafeInteger(total) ? total : BigInt(m.input_tokens) + BigInt(m.output_tokens),
    cost_usd: nanosToUsd(m.cost_nanos),
    cost_reported_usd: nanosToUsd(m.reported_cost_nanos),
    cost_computed_usd: nanosToUsd(m.cost_nanos - m.reported_cost_nanos),
    unpriced_events: m.unpriced_events,
  };
}

/** A metric as a count: its exact sum where it passed 2^53 − 1. */
export const countIn = (m: ExactMetrics, name: keyof Metrics): number | bigint => m.exact?.[name] ?? m[name];
const wide = (m: ExactMetrics, name: keyof Metrics): bigint => m.exact?.[name] ?? BigInt(m[name]);
/** A sum as a count: a number while that is exact, else the BigInt. */
const countOf = (value: bigint): number | bigint => (value <= Number.MAX_SAFE_INTEGER ? Number(value) : value);

/** apiMetrics where some sum passed 2^53 − 1: every count exact; costs stay doubles of dollars. */
function exactApiMetrics(m: ExactMetrics): ApiMetrics {
  const cost = wide(m, 'cost_nanos');
  const reported = wide(m, 'reported_cost_nanos');
  return {
    events: countIn(m, 'events'),
    input_tokens: countIn(m, 'input_tokens'),
    output_tokens: countIn(m, 'output_tokens'),
    cache_read_tokens: countIn(m, 'cache_read_tokens'),
    cache_write_tokens: countIn(m, 'cache_write_tokens'),
    reasoning_tokens: countIn(m, 'reasoning_tokens'),
    total_tokens: countOf(wide(m, 'input_tokens') + wide(m, 'output_tokens')),
    cost_usd: nanosToUsd(Number(cost)),
    cost_reported_usd: nanosToUsd(Number(reported)),
    cost_computed_usd: nanosToUsd(Number(cost - reported)),
    unpriced_events: countIn(m, 'unpriced_events'),
  };
}

/** Absent dimensions are stored as '' and answered as null. */
export function apiKey(key: Partial<Record<GroupKey, string>>): z.infer<typeof ApiKey> {
  return Object.fromEntries(Object.entries(key).map(([k, v]) => [k, v === '' ? null : v]));
}

export const ZERO_METRICS: Metrics = {
  events: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_nanos: 0, reported_cost_nanos: 0, unpriced_events: 0,
};

/** a − b, exact: in BigInt for the metrics where either holds an exact sum. */
export function subtractMetrics(a: ExactMetrics, b: ExactMetrics): ExactMetrics {
  const diff = {} as ExactMetrics;
  for (const m of METRIC_NAMES) {
    if (a.exact?.[m] === undefined && b.exact?.[m] === undefined) {
      diff[m] = a[m] - b[m];
      continue;
    }
    const value = wide(a, m) - wide(b, m);
    diff[m] = Number(value);
    if (!Number.isSafeInteger(diff[m])) (diff.exact ??= {})[m] = value;
  }
  return diff;
}

/** What the totals hold beyond the groups shown: the groups cut off by a limit, summed. */
export function restOf(totals: ExactMetrics, shown: readonly { metrics: ExactMetrics }[]): ExactMetrics {
  // Sums past 2^53 − 1 (rare) are subtracted exactly, a group at a time.
  if (totals.exact || shown.some((g) => g.metrics.exact)) return shown.reduce((rest, g) => subtractMetrics(rest, g.metrics), totals);
  // One sum updated in place: a new object per group made 10,000 groups cost 90 ms of garbage.
  const rest = { ...totals };
  for (const { metrics } of shown) for (const m of METRIC_NAMES) rest[m] -= metrics[m];
  return rest;
}
