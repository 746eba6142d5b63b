import { z } from 'zod';
import { enumValue, id, int64, jsonRecords, KeyValues, Resource, Scope, type Attributes, type Placed } from './common.js';

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
  /** This and the times are left empty (0) by the protobuf reader for a span without an attribute the span rules read (traces-protobuf.ts). */
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

/** The export around its spans, whatever each span is read as. */
const traceExport = <S extends z.ZodType>(span: S) => z.object({
  resourceSpans: z
    .array(
      z.object({
        resource: Resource,
        scopeSpans: z.array(z.object({ scope: Scope, spans: z.array(span).default([]) })).default([]),
      }),
    )
    .default([]),
});

interface SpanContext {
  scope: { name: string; version: string };
  resource: Attributes;
}

function placeSpans<S>({ resourceSpans }: z.output<ReturnType<typeof traceExport<z.ZodType<S>>>>): Placed<S, SpanContext>[] {
  return resourceSpans.flatMap((rs, r) =>
    rs.scopeSpans.flatMap((ss, s) =>
      ss.spans.map((span, i) => ({
        record: span, path: `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`, at: { scope: ss.scope, resource: rs.resource.attributes },
      })),
    ),
  );
}

function traceSpan({ record: span, path, at }: Placed<z.output<typeof Span>, SpanContext>): TraceSpan {
  return {
    path,
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    name: span.name,
    kind: span.kind,
    startNanos: span.startTimeUnixNano,
    endNanos: span.endTimeUnixNano,
    statusCode: span.status.code,
    attributes: span.attributes,
    scope: at.scope,
    resource: at.resource,
  };
}

export const ExportTraceRequest = traceExport(Span).transform((request) => placeSpans(request).map(traceSpan));

/** `ExportTraceRequest` a span at a time: the same spans, the same errors. */
export const traceJsonRecords = jsonRecords(traceExport(z.number()).transform(placeSpans<number>), () => Span, traceSpan);
