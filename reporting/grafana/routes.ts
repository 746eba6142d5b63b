import type { Context } from 'hono';
import { z } from 'zod';
import { badRequest } from '../../src/http/errors.js';
import { DIMENSIONS, type Dimension } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { jsonBody } from '../body.js';
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

/**
 * The JSON datasource protocol of the simpod-json-datasource Grafana plugin, under /grafana.
 * Answers are bare arrays: Grafana reads nothing else.
 */
export function registerGrafana(app: ReportingApp, deps: ReportingDeps): void {
  const ok = (c: Context) => c.json({ status: 'ok', datasource: 'tokentally' });
  app.get('/grafana', ok);
  app.get('/grafana/', ok);

  app.post('/grafana/metrics', async (c) => {
    await jsonBody(c, z.looseObject({}));
    return c.json(metricList());
  });

  app.post('/grafana/metric-payload-options', async (c) => {
    const { name } = await jsonBody(c, z.looseObject({ name: z.string() }));
    return c.json(payloadOptions(name));
  });

  app.post('/grafana/query', async (c) => c.json(await runGrafanaQuery(c.var.store, await jsonBody(c, GrafanaQuery))));

  app.post('/grafana/variable', async (c) => {
    const q = await jsonBody(c, z.looseObject({ payload: z.looseObject({ target: z.string() }), range: Range.optional() }));
    const { from, to } = rangeOf(q.range, deps.now());
    const values = await distinctValues(c.var.store, dimensionOf(q.payload.target.trim(), 'payload.target'), from, to);
    return c.json(values.filter((v) => v !== '').map((v) => ({ __text: v, __value: v })));
  });

  app.post('/grafana/tag-keys', async (c) => {
    await jsonBody(c, z.looseObject({}));
    return c.json(DIMENSIONS.map((d) => ({ type: 'string', text: d })));
  });

  app.post('/grafana/tag-values', async (c) => {
    const q = await jsonBody(c, z.looseObject({ key: z.string(), range: Range.optional() }));
    const { from, to } = rangeOf(q.range, deps.now());
    const values = await distinctValues(c.var.store, dimensionOf(q.key, 'key'), from, to);
    return c.json(values.filter((v) => v !== '').map((text) => ({ text })));
  });
}
