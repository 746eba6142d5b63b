import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCollectorApp, ingestDeps } from '../../collector/app.js';
import { BatchWriter } from '../../collector/writer.js';
import { BodyReader } from '../../src/http/body.js';
import { createReportingApp } from '../../reporting/app.js';
import { createPricer, loadPriceTable } from '../../src/pricing/index.js';
import { exampleRequest, openApiPath, operations, type Document } from '../support/openapi.js';
import { startTestService, type TestService } from '../support/service.js';

const NOW = Date.UTC(2026, 10, 25);
let svc: TestService;
const docs: Record<string, Document> = {};
const apps: Record<string, Hono<any>> = {};
beforeAll(async () => {
  svc = await startTestService({ now: () => NOW });
  for (const name of ['collector', 'reporting'] as const) {
    const res = await fetch(`${baseUrl(name)}/openapi.json`);
    expect(res.status).toBe(200);
    docs[name] = (await res.json()) as Document;
  }
  // The same functions the server builds its apps with, for the routes Hono registered.
  const bodies = new BodyReader({ maxBodyBytes: 1, maxDecodedBytes: 1, maxDecodedBytesInFlight: 1, bodyIdleMs: 1, requestTimeoutMs: 1 });
  apps.reporting = createReportingApp({ store: svc.store, keys: [], bodies, now: () => NOW, notifyTimeoutMs: 1000, maxBudgets: 1000 });
  apps.collector = createCollectorApp(ingestDeps({
    store: svc.store, writer: new BatchWriter(svc.store, { maxQueuedEvents: 1, maxBatchEvents: 1, retryForMs: 0 }),
    pricer: createPricer(loadPriceTable({})), keys: [], limits: { maxEventsPerRequest: 1, maxRecordsPerRequest: 1, maxValuesPerRequest: 1 }, bodies,
    budgetStatuses: async () => [],
  }));
});
afterAll(() => svc.close());

const baseUrl = (name: string) => (name === 'collector' ? svc.collectorUrl : svc.reportingUrl);

// The collector first: its example events are what the reporting examples then report on.
describe.each(['collector', 'reporting'])('the %s app', (name) => {
  it('serves a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(docs[name]!));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('describes every route Hono has registered, and no other', () => {
    const routes = apps[name]!.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`);
    const documented = operations(docs[name]!).map(({ method, path }) => `${method} ${path}`);
    expect(new Set(documented)).toEqual(new Set(routes));
    expect(routes).toContain('get /openapi.json');
  });

  it('accepts the example request of every operation and answers as documented', async () => {
    const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    for (const { path, method, op } of operations(docs[name]!)) {
      if (op.requestBody) expect(op.requestBody.content['application/json']?.example, `${method} ${path} needs an example body`).toBeDefined();
      const { url, init } = exampleRequest(path, method, op);
      const res = await fetch(baseUrl(name) + url, init);
      // A made-up id may name nothing; the request must still be valid.
      if (res.status === 404 && op.parameters.some((p) => p.in === 'path')) continue;
      expect(res.status, `${method} ${url}: ${res.status}`).toBeLessThan(300);
      const documented = op.responses[res.status]?.content;
      expect(documented, `${method} ${path} ${res.status} is documented`).toBeDefined();
      const type = res.headers.get('content-type')!.split(';')[0]!;
      expect(Object.keys(documented!), `${method} ${path} answers ${type}`).toContain(type);
      if (type !== 'application/json') continue;
      const validate = ajv.compile(documented![type]!.schema);
      expect(validate(await res.json()), `${method} ${url}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });
});

describe('GET /docs', () => {
  it.each(['collector', 'reporting'])('on the %s app, answers a page whose every asset the app serves', async (name) => {
    const pageUrl = `${baseUrl(name)}/docs`;
    const res = await fetch(pageUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g), ...html.matchAll(/url: '([^']+)'/g)].map((m) => new URL(m[1]!, pageUrl).href);
    expect(assets.some((a) => a.endsWith('/openapi.json'))).toBe(true);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      expect(asset.startsWith(baseUrl(name)), `${asset} is served by the app itself`).toBe(true);
      const answer = await fetch(asset);
      expect(answer.status, asset).toBe(200);
      expect((await answer.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
  });
});
