import { z } from 'zod';
import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, type Dimension } from '../../src/store/types.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { jsonBody } from '../body.js';
import { exactJsonAnswer, mapLater } from '../json.js';
import { metricList, payloadOptions } from './catalog.js';
import { distinctValues, GrafanaQuery, runGrafanaQuery } from './query.js';

const Range = z.looseObject({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }) });
const DAY = 86_400_000;

/** The range Grafana sent, else the last 30 days. */
function rangeOf(range: z.infer<typeof Range> | undefined, now: number): { from: number; to: number } {
  return range ? { from: Date.parse(range.from), to: Date.parse(range.to) } : { from: now - 30 * DAY, to: now + DAY };
}

function dimensionOf(name: string, field: string): Dimension {
  if (!DIMENSIONS.includes(name as Dimension)) throw badRequest(`${field}: "${name}" is not one of ${DIMENSIONS.join(', ')}`);
  return name as Dimension;
}

const AnyBody = z.looseObject({});
const PayloadOptionsBody = z.looseObject({ name: z.string() });
const VariableBody = z.looseObject({ payload: z.looseObject({ target: z.string() }), range: Range.optional() });
const TagValuesBody = z.looseObject({ key: z.string(), range: Range.optional() });
const EXAMPLE_RANGE = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

const Option = z.object({ value: z.string(), label: z.string() });
const MetricList = z.array(Option.extend({
  payloads: z.array(z.object({ name: z.string(), label: z.string(), type: z.enum(['select', 'multi-select', 'input']), options: z.array(Option).optional() })),
}));
const QueryAnswer = z.array(z.union([
  z.object({ refId: z.string().optional(), target: z.string(), datapoints: z.array(z.tuple([z.number(), z.number().describe('epoch ms')])) }),
  z.object({ refId: z.string().optional(), type: z.literal('table'), columns: z.array(z.object({ text: z.string(), type: z.string() })), rows: z.array(z.array(z.union([z.string(), z.number()]))) }),
])).describe('a bare array: time series, or tables with format=table');

/**
 * The JSON datasource protocol of the simpod-json-datasource Grafana plugin, under /grafana.
 * Answers are bare arrays: Grafana reads nothing else.
 */
export function registerGrafana(api: ReportingApi, deps: ReportingDeps): void {
  const common = { tag: 'grafana', role: 'read' } as const;
  const post = (path: string, summary: string, schema: z.ZodType, example: unknown, answer: z.ZodType) =>
    ({ ...common, method: 'post', path: `/grafana${path}`, summary, body: { schema, example }, responses: { 200: { description: 'Answer for Grafana', schema: answer } } }) as const;
  const testConnection = (path: string) => ({
    ...common, method: 'get', path, summary: "Grafana's test connection",
    responses: { 200: { description: 'The datasource is reachable', schema: z.object({ status: z.literal('ok'), datasource: z.string() }) } },
  }) as const;
  for (const path of ['/grafana', '/grafana/']) api.route(testConnection(path), (c) => c.json({ status: 'ok', datasource: 'tokentally' }));

  api.route(post('/metrics', 'Metrics the query editor offers', AnyBody, {}, MetricList), async (c) => {
    await jsonBody(c, deps.bodies, AnyBody);
    return c.json(metricList());
  });

  api.route(post('/metric-payload-options', 'Options of one payload field', PayloadOptionsBody, { metric: 'cost_usd', payload: {}, name: 'group_by' }, z.array(Option)), async (c) => {
    const { name } = await jsonBody(c, deps.bodies, PayloadOptionsBody);
    return c.json(payloadOptions(name));
  });

  api.route(post('/query', 'Time series or tables for panels', GrafanaQuery, { range: EXAMPLE_RANGE, targets: [{ refId: 'A', target: 'cost_usd', payload: { group_by: ['model'] } }] }, QueryAnswer), async (c) =>
    exactJsonAnswer(c, await runGrafanaQuery(c.var.store, await jsonBody(c, deps.bodies, GrafanaQuery))));

  api.route(post('/variable', 'Values of a dashboard variable', VariableBody, { payload: { target: 'model' }, range: EXAMPLE_RANGE }, z.array(z.object({ __text: z.string(), __value: z.string() }))), async (c) => {
    const q = await jsonBody(c, deps.bodies, VariableBody);
    const { from, to } = rangeOf(q.range, deps.now());
    const values = await distinctValues(c.var.store, dimensionOf(q.payload.target.trim(), 'payload.target'), from, to, 'payload.target');
    return exactJsonAnswer(c, mapLater(values.filter((v) => v !== ''), (v) => ({ __text: v, __value: v })));
  });

  api.route(post('/tag-keys', 'Keys for ad hoc filters', AnyBody, {}, z.array(z.object({ type: z.literal('string'), text: z.string() }))), async (c) => {
    await jsonBody(c, deps.bodies, AnyBody);
    return c.json(DIMENSIONS.map((d) => ({ type: 'string', text: d })));
  });

  api.route(post('/tag-values', 'Values of one ad hoc filter key', TagValuesBody, { key: 'model' }, z.array(z.object({ text: z.string() }))), async (c) => {
    const q = await jsonBody(c, deps.bodies, TagValuesBody);
    const { from, to } = rangeOf(q.range, deps.now());
    const values = await distinctValues(c.var.store, dimensionOf(q.key, 'key'), from, to, 'key');
    return exactJsonAnswer(c, mapLater(values.filter((v) => v !== ''), (text) => ({ text })));
  });
}
