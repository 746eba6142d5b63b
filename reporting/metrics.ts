import { nanosToUsd } from '../src/event/normalise.js';
import type { GroupKey, Metrics } from '../src/store/types.js';

/** Metrics as every report spells them: tokens by type, totals, cost and cost by source. */
export function apiMetrics(m: Metrics) {
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
export function apiKey(key: Partial<Record<GroupKey, string>>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(key).map(([k, v]) => [k, v === '' ? null : v]));
}

export const ZERO_METRICS: Metrics = {
  events: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0,
  reasoning_tokens: 0, cost_nanos: 0, reported_cost_nanos: 0, unpriced_events: 0,
};

export function subtractMetrics(a: Metrics, b: Metrics): Metrics {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - b[k as keyof Metrics]])) as unknown as Metrics;
}

export function addMetrics(a: Metrics, b: Metrics): Metrics {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v + b[k as keyof Metrics]])) as unknown as Metrics;
}
