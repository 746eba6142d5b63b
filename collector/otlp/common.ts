import { z } from 'zod';

/**
 * The parts of `opentelemetry.proto.common.v1` every signal's schema uses, as both codecs hand them
 * over (lowerCamelCase keys; from protobuf, 64-bit integers as strings and bytes as Uint8Array).
 */

/** A scalar attribute value: what usage mapping reads. */
export type AttributeValue = string | number | bigint | boolean;
export type Attributes = ReadonlyMap<string, AttributeValue>;

/**
 * An `AnyValue` kept whole: scalars as above, bytes, arrays, key-value lists (last key wins), and
 * null for an empty AnyValue (`{}`: no value set, which Gemini CLI sends).
 */
export type AnyValue = AttributeValue | Uint8Array | readonly AnyValue[] | KeyValueList | null;
export type KeyValueList = ReadonlyMap<string, AnyValue>;

/**
 * int64 / fixed64: a decimal string or a number in JSON (one beyond 2^53 arrives as its digits, see
 * `parseJson`), a string from protobuf; never a float.
 */
export const int64 = z
  .union([z.string().regex(/^-?\d+$/, 'must be a decimal integer'), z.number().int()], { error: 'must be an integer or a decimal string' })
  .transform((v) => BigInt(v));

/** JSON writes NaN and the infinities as strings; protobuf hands them over as numbers, which z.number() refuses. */
export const double = z.union([z.number(), z.string().transform(Number), z.custom<number>((v) => typeof v === 'number')], { error: 'must be a number' });

/** Binary ids: hex in any case in JSON, bytes from protobuf. */
export const id = (bytes: number, optional = false) =>
  z
    .union([z.string().regex(/^[0-9a-fA-F]*$/, 'must be hex'), z.instanceof(Uint8Array)], { error: 'must be a hex string' })
    .transform((v) => (typeof v === 'string' ? v.toLowerCase() : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')))
    .refine((hex) => hex.length === bytes * 2 || (optional && hex.length === 0), `must be ${bytes} bytes (${bytes * 2} hex digits)`);

export const enumValue = z.number().int('must be an integer enum value').default(0);

const scalarFields = {
  stringValue: z.string().optional(),
  boolValue: z.boolean().optional(),
  intValue: int64.optional(),
  doubleValue: double.optional(),
};

/** A scalar AnyValue; arrays, maps and bytes carry no usage and are left out. */
const ScalarValue = z
  .object(scalarFields)
  .transform((v): AttributeValue | undefined => v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue);

/** Attributes with scalar values, the last of a repeated key winning. */
export const KeyValues = z
  .array(z.object({ key: z.string(), value: ScalarValue.optional() }))
  .default([])
  .transform((list) => {
    const map = new Map<string, AttributeValue>();
    for (const { key, value } of list) if (value !== undefined) map.set(key, value);
    return map;
  });

/** bytesValue: base64 in JSON, bytes from protobuf. */
const bytes = z.union([z.string().transform((b64) => new Uint8Array(Buffer.from(b64, 'base64'))), z.instanceof(Uint8Array)], { error: 'must be base64' });

/** An AnyValue kept whole (a log record's body and attributes). */
export const WholeValue: z.ZodType<AnyValue> = z.lazy(() =>
  z
    .object({
      ...scalarFields,
      bytesValue: bytes.optional(),
      arrayValue: z.object({ values: z.array(WholeValue).default([]) }).optional(),
      kvlistValue: z.object({ values: WholeKeyValues }).optional(),
    })
    .transform((v): AnyValue => v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? v.bytesValue ?? v.arrayValue?.values ?? v.kvlistValue?.values ?? null),
).meta({ id: 'OtlpAnyValue' });

/** Attributes with every value kept whole; a key without a value maps to null, as an empty AnyValue does. */
export const WholeKeyValues: z.ZodType<KeyValueList> = z.lazy(() =>
  z
    .array(z.object({ key: z.string(), value: WholeValue.optional() }))
    .default([])
    .transform((list) => new Map(list.map(({ key, value }) => [key, value ?? null]))),
).meta({ id: 'OtlpKeyValueList' });

/** The scalar attributes of a whole list, for usage mapping: the list itself when it holds nothing else, as most do. */
export function scalarsOf(values: KeyValueList): Attributes {
  let scalarsOnly = true;
  for (const value of values.values()) if (value === null || typeof value === 'object') scalarsOnly = false;
  if (scalarsOnly) return values as Attributes;
  const out = new Map<string, AttributeValue>();
  for (const [key, value] of values) if (value !== null && typeof value !== 'object') out.set(key, value);
  return out;
}

export const Scope = z.object({ name: z.string().default(''), version: z.string().default('') }).default({ name: '', version: '' });

export const Resource = z.object({ attributes: KeyValues }).default({ attributes: new Map() });

/** A record of an export with where it sits (`resourceSpans[0].scopeSpans[1].spans[2]`) and what encloses it. */
export interface Placed<R, C> {
  record: R;
  path: string;
  at: C;
}

/** How to read one record of an OTLP/JSON export on its own. */
export interface JsonRecord<T> {
  /** The record's number among the export's records, in the order the body holds them. */
  n: number;
  path: string;
  read(value: unknown): Read<T>;
}

/** A value read by a schema, or the schema's issues with it. */
export type Read<T> = { data: T } | { issues: z.core.$ZodIssue[] };

/**
 * An OTLP/JSON export read in parts (decode.ts): its outline, every record replaced by its number,
 * checked first; then each record on its own, so that none holds the event loop for the whole export.
 */
export type JsonRecords<T> = (outline: unknown) => Read<JsonRecord<T>[]>;

/**
 * `outline`: the export's schema with a number for every record, flattened to where each goes;
 * `record`: the schema of a record at that place; `build`: the record as the whole export's schema gives it.
 */
export function jsonRecords<C, R, T>(
  outline: z.ZodType<Placed<number, C>[]>,
  record: (at: C) => z.ZodType<R>,
  build: (placed: Placed<R, C>) => T,
): JsonRecords<T> {
  return (value) => {
    const places = outline.safeParse(value);
    if (!places.success) return { issues: places.error.issues };
    return {
      data: places.data.map(({ record: n, path, at }) => ({
        n, path,
        read: (recordValue) => {
          const result = record(at).safeParse(recordValue);
          return result.success ? { data: build({ record: result.data, path, at }) } : { issues: result.error.issues };
        },
      })),
    };
  };
}
