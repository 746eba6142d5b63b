import { z } from 'zod';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../src/http/errors.js';
import type { CollectorApi, IngestDeps } from '../app.js';
import { encodeExportResponse, encodeStatus, encodingOf, requireEncoding, type Encoded } from '../otlp/decode.js';
import { ExportLogsRequest } from '../otlp/logs-request.js';
import { ExportMetricsRequest } from '../otlp/metrics-request.js';
import { commitExport, prepareExport, type Signal } from '../otlp/receive.js';
import { ExportTraceRequest } from '../otlp/request.js';

/** The OTLP/JSON form of an `Export…ServiceResponse` (int64 as a string). */
const exportResponse = (rejectedField: string) =>
  z.object({ partialSuccess: z.object({ [rejectedField]: z.string().describe('int64'), errorMessage: z.string() }).optional() });

const attribute = (key: string, value: string | number) =>
  ({ key, value: typeof value === 'string' ? { stringValue: value } : Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value } });

const EXAMPLE_TRACES = {
  resourceSpans: [{
    resource: { attributes: [attribute('service.name', 'planner')] },
    scopeSpans: [{
      spans: [{
        traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'chat gpt-4o', kind: 3,
        startTimeUnixNano: '1764064800000000000', endTimeUnixNano: '1764064801500000000',
        attributes: [
          attribute('gen_ai.operation.name', 'chat'), attribute('gen_ai.request.model', 'gpt-4o'),
          attribute('gen_ai.usage.input_tokens', 1200), attribute('gen_ai.usage.output_tokens', 300),
        ],
      }],
    }],
  }],
};

/** Claude Code's per-call record, as it sends it. */
const EXAMPLE_LOGS = {
  resourceLogs: [{
    resource: { attributes: [attribute('service.name', 'claude-code'), attribute('service.version', '2.1.332')] },
    scopeLogs: [{
      scope: { name: 'com.anthropic.claude_code.events', version: '2.1.332' },
      logRecords: [{
        timeUnixNano: '1764064801500000000', observedTimeUnixNano: '1764064801500000000', body: { stringValue: 'claude_code.api_request' },
        attributes: [
          attribute('event.name', 'api_request'), attribute('session.id', '3f1c2b9e-5d0a-4c1e-9b7a-2e6f8d4c0a11'), attribute('event.sequence', 6),
          attribute('model', 'claude-sonnet-4-5'), attribute('input_tokens', 1100), attribute('output_tokens', 56),
          attribute('cache_read_tokens', 2200), attribute('cache_creation_tokens', 330), attribute('cost_usd', 0.00761),
          attribute('duration_ms', 463), attribute('request_id', 'req_011CV1example'),
        ],
      }],
    }],
  }],
};

const EXAMPLE_METRICS = {
  resourceMetrics: [{
    resource: { attributes: [attribute('service.name', 'claude-code')] },
    scopeMetrics: [{
      scope: { name: 'com.anthropic.claude_code', version: '2.1.332' },
      metrics: [{
        name: 'claude_code.token.usage', unit: 'tokens',
        sum: {
          aggregationTemporality: 1, isMonotonic: true,
          dataPoints: [{ startTimeUnixNano: '1764064800000000000', timeUnixNano: '1764064801500000000', asDouble: 1100, attributes: [attribute('type', 'input')] }],
        },
      }],
    }],
  }],
};

const CONTENT_TYPES = ['application/json', 'application/x-protobuf'];

/** Per signal: its path and what its OpenAPI entry says. */
const ROUTES: Record<Signal, { path: string; summary: string; description: string; schema: z.ZodType; example: unknown; response: z.ZodType }> = {
  traces: {
    path: '/v1/traces',
    summary: 'OTLP/HTTP traces: spans with GenAI usage become usage events',
    description: 'An `ExportTraceServiceRequest` as OTLP/JSON or protobuf, gzip or not; the answer is an `ExportTraceServiceResponse` in the same encoding, with `partialSuccess` only when spans carried invalid usage. Errors are a `google.rpc.Status`. See docs/otel.md for the attribute mapping.',
    schema: ExportTraceRequest, example: EXAMPLE_TRACES, response: exportResponse('rejectedSpans'),
  },
  logs: {
    path: '/v1/logs',
    summary: 'OTLP/HTTP logs: the coding agents\' per-call records become usage events',
    description: 'An `ExportLogsServiceRequest` as OTLP/JSON or protobuf, gzip or not; the answer is an `ExportLogsServiceResponse` in the same encoding, with `partialSuccess` only when per-call records carried invalid usage. Other records are accepted and ignored. Errors are a `google.rpc.Status`. See docs/agents.md for the records counted.',
    schema: ExportLogsRequest, example: EXAMPLE_LOGS, response: exportResponse('rejectedLogRecords'),
  },
  metrics: {
    path: '/v1/metrics',
    summary: 'OTLP/HTTP metrics: checked and accepted, not counted',
    description: 'An `ExportMetricsServiceRequest` as OTLP/JSON or protobuf, gzip or not, checked in full; the answer is an empty `ExportMetricsServiceResponse` in the same encoding. The agents\' metrics repeat their per-call log records, so they add no usage (docs/agents.md). Errors are a `google.rpc.Status`.',
    schema: ExportMetricsRequest, example: EXAMPLE_METRICS, response: exportResponse('rejectedDataPoints'),
  },
};

/** The OTLP/HTTP paths, which answer errors as a `google.rpc.Status` (see otlpErrorBodies). */
export const OTLP_PATHS = Object.values(ROUTES).map((r) => r.path);

/**
 * POST /v1/traces, /v1/logs, /v1/metrics — OTLP/HTTP. The records with GenAI usage become usage
 * events through the same validate → normalise → price → queue path as /v1/usage; a 200 means they
 * are committed.
 */
export function registerOtlp(api: CollectorApi, deps: IngestDeps): void {
  for (const [signal, route] of Object.entries(ROUTES) as [Signal, (typeof ROUTES)[Signal]][]) {
    api.route({
      method: 'post', path: route.path, tag: 'ingestion', role: 'ingest', summary: route.summary, description: route.description,
      body: { schema: route.schema, contentTypes: CONTENT_TYPES, example: route.example },
      responses: { 200: { description: 'Committed; `partialSuccess` names records with invalid usage (shown in its JSON form)', schema: route.response } },
    }, async (c) => {
      const encoding = requireEncoding(c.req.header('content-type'));
      // Chained: a variable would hold the records through the commit (see `commit`).
      const rejection = await deps.bodies.read(c, (body) => prepareExport(signal, body, encoding, c.var.principal, deps)).then((batch) => commitExport(batch, deps.writer));
      return send(encodeExportResponse(signal, encoding, rejection));
    });
  }
}

function send({ body, contentType }: Encoded, status = 200, headers?: Headers): Response {
  const out = new Headers(headers);
  out.set('content-type', contentType);
  return new Response(body, { status, headers: out });
}

/**
 * OTLP clients expect a `google.rpc.Status` in the request's encoding for every 4xx/5xx, including
 * those raised before the route runs (auth, body limit). Runs first and rewrites the error answer,
 * keeping its status and headers such as Retry-After.
 */
export const otlpErrorBodies: MiddlewareHandler = async function otlpErrorBodies(c, next) {
  await next();
  // A client gone mid-body (499) has nobody to read a status.
  if (!c.error || c.res.status === 499) return;
  const status = c.error instanceof ApiError ? c.error.status : 500;
  const message = c.error instanceof ApiError ? c.error.message : 'internal error';
  c.res = send(encodeStatus(encodingOf(c.req.header('content-type')) ?? 'json', status, message), status, c.res.headers);
};
