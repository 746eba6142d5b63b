import { z } from 'zod';
import { nanosToUsd } from '../src/event/normalise.js';
import { METRIC_NAMES, type GroupKey, type Metrics } from '../src/store/types.js';

const count = z.number().int().min(0);
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

export function apiMetrics(m: Metrics): ApiMetrics {
  return {
    events: m.events,
    input_tokens: m.input_tokens,
    output_tokens: m.output_tokens,
    cache_read_tokens: m.cache_read_tokens,
    cache_write_tokens: m.cache_write_tokens,
    reasoning_tokens: m.reasoning_tokens,
    total_tokens: m.input_tokens + m.output_tokens,
    cost_usd: nanosToUsd(m.cost_nanos),
    cost_reported_usd: nanosToUsd(m.reported_cost_nanos),
    cost_computed_usd: nanosToUsd(m.cost_nanos - m.reported_cost_nanos),
    unpriced_events: m.unpriced_events,
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

export function subtractMetrics(a: Metrics, b: Metrics): Metrics {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - b[k as keyof Metrics]])) as unknown as Metrics;
}

/** What the totals hold beyond the groups shown: the groups cut off by a limit, summed. */
export function restOf(totals: Metrics, shown: readonly { metrics: Metrics }[]): Metrics {
  // One sum updated in place: a new object per group made 10,000 groups cost 90 ms of garbage.
  const rest = { ...totals };
  for (const { metrics } of shown) for (const m of METRIC_NAMES) rest[m] -= metrics[m];
  return rest;
}
