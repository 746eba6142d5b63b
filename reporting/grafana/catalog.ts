import { DIMENSIONS } from '../../src/store/types.js';

/** What the Grafana query editor offers: a metric per target, with its payload options. */
export const GRAFANA_METRICS = {
  cost_usd: 'Cost (USD)',
  events: 'Events',
  total_tokens: 'Total tokens',
  input_tokens: 'Input tokens',
  output_tokens: 'Output tokens',
  cache_read_tokens: 'Cache read tokens',
  cache_write_tokens: 'Cache write tokens',
  reasoning_tokens: 'Reasoning tokens',
  cost_reported_usd: 'Cost reported by clients (USD)',
  cost_computed_usd: 'Cost computed from prices (USD)',
} as const;
export type GrafanaMetric = keyof typeof GRAFANA_METRICS;

const dimensionOptions = DIMENSIONS.map((d) => ({ value: d, label: d }));

/** Payload fields every metric takes; filters per dimension accept Grafana variables. */
export const PAYLOADS = [
  { name: 'group_by', label: 'Group by', type: 'multi-select', options: dimensionOptions },
  { name: 'format', label: 'Format', type: 'select', options: [{ value: 'timeseries', label: 'Time series' }, { value: 'table', label: 'Table' }] },
  ...DIMENSIONS.map((d) => ({ name: d, label: `Filter ${d}`, type: 'input' })),
] as const;

export function metricList() {
  return Object.entries(GRAFANA_METRICS).map(([value, label]) => ({ value, label, payloads: PAYLOADS }));
}

export function payloadOptions(name: string): { value: string; label: string }[] {
  const payload = PAYLOADS.find((p) => p.name === name);
  return payload && 'options' in payload ? [...payload.options] : [];
}
