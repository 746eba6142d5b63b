import { z } from 'zod';

/**
 * The one in-memory form of an OTLP trace export, whichever encoding it came in. Both codecs hand
 * this schema the message as an object with lowerCamelCase keys; it checks the shape, turns ids into
 * lowercase hex and 64-bit integers into BigInt, and flattens the spans with their resource and scope.
 */

/** A scalar attribute value; arrays, maps and bytes carry no usage and are left out. */
export type AttributeValue = string | number | bigint | boolean;
export type Attributes = ReadonlyMap<string, AttributeValue>;

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

/**
 * int64 / fixed64: a decimal string or a number in JSON (one beyond 2^53 arrives as its digits, see
 * `parseJson`), a string from protobuf; never a float.
 */
const int64 = z
  .union([z.string().regex(/^-?\d+$/, 'must be a decimal integer'), z.number().int()], { error: 'must be an integer or a decimal string' })
  .transform((v) => BigInt(v));

/** Binary ids: hex in any case in JSON, bytes from protobuf. */
const id = (bytes: number, optional = false) =>
  z
    .union([z.string().regex(/^[0-9a-fA-F]*$/, 'must be hex'), z.instanceof(Uint8Array)], { error: 'must be a hex string' })
    .transform((v) => (typeof v === 'string' ? v.toLowerCase() : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')))
    .refine((hex) => hex.length === bytes * 2 || (optional && hex.length === 0), `must be ${bytes} bytes (${bytes * 2} hex digits)`);

const double = z.union([z.number(), z.string().transform(Number)]);

const AnyValue = z
  .object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: int64.optional(),
    doubleValue: double.optional(),
  })
  .transform((v): AttributeValue | undefined => v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue);

const KeyValues = z
  .array(z.object({ key: z.string(), value: AnyValue.optional() }))
  .default([])
  .transform((list) => {
    const map = new Map<string, AttributeValue>();
    for (const { key, value } of list) if (value !== undefined) map.set(key, value);
    return map;
  });

const enumValue = z.number().int('must be an integer enum value').default(0);

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

const Scope = z.object({ name: z.string().default(''), version: z.string().default('') }).default({ name: '', version: '' });

export const ExportTraceRequest = z
  .object({
    resourceSpans: z
      .array(
        z.object({
          resource: z.object({ attributes: KeyValues }).default({ attributes: new Map() }),
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
