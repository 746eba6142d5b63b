import { z } from 'zod';
import { enumValue, id, int64, KeyValues, Resource, Scope, type Attributes } from './common.js';

/**
 * The one in-memory form of an OTLP trace export, whichever encoding it came in. Both codecs hand
 * this schema the message as an object with lowerCamelCase keys; it checks the shape, turns ids into
 * lowercase hex and 64-bit integers into BigInt, and flattens the spans with their resource and scope.
 */

export interface TraceSpan {
  /** Where the span sits in the request, for error messages: `resourceSpans[0].scopeSpans[1].spans[2]`. */
  path: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startNanos: bigint;
  endNanos: bigint;
  statusCode: number;
  attributes: Attributes;
  scope: { name: string; version: string };
  resource: Attributes;
}

export const SPAN_KIND_CLIENT = 3;
export const STATUS_CODE_ERROR = 2;

const Span = z.object({
  traceId: id(16),
  spanId: id(8),
  parentSpanId: id(8, true).default(''),
  name: z.string().default(''),
  kind: enumValue,
  startTimeUnixNano: int64.default(0n),
  endTimeUnixNano: int64.default(0n),
  attributes: KeyValues,
  status: z.object({ code: enumValue }).default({ code: 0 }),
});

export const ExportTraceRequest = z
  .object({
    resourceSpans: z
      .array(
        z.object({
          resource: Resource,
          scopeSpans: z.array(z.object({ scope: Scope, spans: z.array(Span).default([]) })).default([]),
        }),
      )
      .default([]),
  })
  .transform(({ resourceSpans }): TraceSpan[] =>
    resourceSpans.flatMap((rs, r) =>
      rs.scopeSpans.flatMap((ss, s) =>
        ss.spans.map((span, i) => ({
          path: `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`,
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId,
          name: span.name,
          kind: span.kind,
          startNanos: span.startTimeUnixNano,
          endNanos: span.endTimeUnixNano,
          statusCode: span.status.code,
          attributes: span.attributes,
          scope: ss.scope,
          resource: rs.resource.attributes,
        })),
      ),
    ),
  );
