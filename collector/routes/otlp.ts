import { z } from 'zod';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../src/http/errors.js';
import type { CollectorApi, IngestDeps } from '../app.js';
import { encodeExportResponse, encodeStatus, encodingOf, requireEncoding, type Encoded } from '../otlp/decode.js';
import { commitExport, prepareExport } from '../otlp/receive.js';
import { ExportTraceRequest } from '../otlp/request.js';

/** The OTLP/JSON form of `ExportTraceServiceResponse` (int64 as a string). */
const ExportTraceResponse = z.object({
  partialSuccess: z.object({ rejectedSpans: z.string().describe('int64'), errorMessage: z.string() }).optional(),
});

const EXAMPLE_REQUEST = {
  resourceSpans: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'planner' } }] },
    scopeSpans: [{
      spans: [{
        traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'chat gpt-4o', kind: 3,
        startTimeUnixNano: '1764064800000000000', endTimeUnixNano: '1764064801500000000',
        attributes: [
          { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
          { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o' } },
          { key: 'gen_ai.usage.input_tokens', value: { intValue: '1200' } },
          { key: 'gen_ai.usage.output_tokens', value: { intValue: '300' } },
        ],
      }],
    }],
  }],
};

/**
 * POST /v1/traces — OTLP/HTTP. Spans with GenAI usage become usage events through the same
 * validate → normalise → price → queue path as /v1/usage; a 200 means they are committed.
 */
export function registerTraces(api: CollectorApi, deps: IngestDeps): void {
  api.route({
    method: 'post', path: '/v1/traces', tag: 'ingestion', role: 'ingest',
    summary: 'OTLP/HTTP traces: spans with GenAI usage become usage events',
    description: 'An `ExportTraceServiceRequest` as OTLP/JSON or protobuf, gzip or not; the answer is an `ExportTraceServiceResponse` in the same encoding, with `partialSuccess` only when spans carried invalid usage. Errors are a `google.rpc.Status`. See docs/otel.md for the attribute mapping.',
    body: { schema: ExportTraceRequest, contentTypes: ['application/json', 'application/x-protobuf'], example: EXAMPLE_REQUEST },
    responses: { 200: { description: 'Committed; `partialSuccess` names spans with invalid usage (shown in its JSON form)', schema: ExportTraceResponse } },
    errors: [413, 415, 429, 503],
  }, async (c) => {
    const encoding = requireEncoding(c.req.header('content-type'));
    const batch = await deps.bodies.read(c, (body) => prepareExport('traces', body, encoding, c.var.principal, deps));
    return send(encodeExportResponse('traces', encoding, await commitExport(batch, deps.writer)));
  });
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
  if (!c.error) return;
  const status = c.error instanceof ApiError ? c.error.status : 500;
  const message = c.error instanceof ApiError ? c.error.message : 'internal error';
  c.res = send(encodeStatus(encodingOf(c.req.header('content-type')) ?? 'json', status, message), status, c.res.headers);
};
