import { z } from 'zod';
import type { MiddlewareHandler } from 'hono';
import type { Principal } from '../../src/auth/keys.js';
import { MAX_LISTED_ERRORS, validateEvents, type EventError } from '../../src/event/validate.js';
import { ApiError } from '../../src/http/errors.js';
import type { CollectorApi, CollectorDeps, IngestDeps } from '../app.js';
import { applyProjectScope, commit, prepare, type Prepared } from '../ingest.js';
import { decodeTraceRequest, encodeExportResponse, encodeStatus, encodingOf, requireEncoding, type Encoded } from '../otlp/decode.js';
import { ExportTraceRequest, type TraceSpan } from '../otlp/request.js';
import { spansToEvents, type SpanEvent } from '../otlp/spans.js';

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

/** How many rejected spans the partialSuccess message describes. */
const DESCRIBED_REJECTIONS = 5;

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
    const batch = await deps.bodies.read(c, (body) => prepareSpans(decodeTraceRequest(body, encoding, deps.counts), c.var.principal, deps));
    const partialSuccess = await commitSpans(batch, deps.writer);
    return send(encodeExportResponse(encoding, partialSuccess));
  });
}

/** Commits the spans' events; resolves with the answer's partialSuccess, none when no span was rejected (see `commit`). */
function commitSpans(batch: Prepared & { errorMessage: string }, writer: CollectorDeps['writer']) {
  const partialSuccess = batch.rejected > 0 ? { rejectedSpans: batch.rejected, errorMessage: batch.errorMessage } : undefined;
  return commit(batch, writer).then(() => partialSuccess);
}

/** The request's GenAI spans checked and prepared, with the message naming rejected ones. */
function prepareSpans(spans: readonly TraceSpan[], principal: Principal, deps: CollectorDeps): Prepared & { errorMessage: string } {
  const spanEvents = spansToEvents(spans);
  if (spanEvents.length > deps.limits.maxEventsPerRequest) {
    throw new ApiError(413, 'too_many_events', `${spanEvents.length} spans with usage exceed the limit of ${deps.limits.maxEventsPerRequest} per request (MAX_EVENTS_PER_REQUEST)`);
  }
  const batch = prepare(applyProjectScope(validateEvents(spanEvents.map((e) => e.input), ''), principal, ''), spanEvents.length, deps.pricer);
  return { ...batch, errorMessage: batch.rejected > 0 ? describeRejections(batch.errors, spanEvents, batch.rejected) : '' };
}

/** `span 4bf9…/00f0… (resourceSpans[0].scopeSpans[0].spans[2]) gen_ai.usage.input_tokens: must not be negative` */
function describeRejections(errors: readonly EventError[], spanEvents: readonly SpanEvent[], rejectedSpans: number): string {
  const lines = errors.slice(0, DESCRIBED_REJECTIONS).map(({ index, path, message }) => {
    const { span, sources } = spanEvents[index]!;
    const field = path.replace(/^\[\d+\]\.?/, '');
    return `span ${span.traceId}/${span.spanId} (${span.path}) ${sources[field] ?? (field || 'usage')}: ${message}`;
  });
  const unlisted = errors.length - DESCRIBED_REJECTIONS;
  const more = unlisted <= 0 ? '' : errors.length < MAX_LISTED_ERRORS ? `; and ${unlisted} more` : '; and more';
  return `${rejectedSpans} span(s) with invalid GenAI usage were not stored: ${lines.join('; ')}${more}`;
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
