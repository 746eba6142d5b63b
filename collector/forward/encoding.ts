import type protobuf from 'protobufjs';
import type { OutboxRow } from '../../src/store/types.js';
import { parseJson } from '../json.js';
import { otlpTypes } from '../otlp/decode.js';
import type { Signal } from './config.js';

/**
 * Outbox rows → one upstream request body. Protobuf rows of one signal are concatenated as they
 * are: an `Export…ServiceRequest` holds only one repeated field, and protobuf merges repeated
 * fields of concatenated messages, so the concatenation is the merged request. Anything else (JSON
 * rows, a JSON upstream, attributes to drop) goes through the decoded message.
 */

export type WireFormat = 'protobuf' | 'json';

/** The top-level repeated field of each signal's request. */
const RESOURCES: Record<Signal, string> = { traces: 'resourceSpans', logs: 'resourceLogs', metrics: 'resourceMetrics' };

/** OTLP/JSON writes these bytes fields as hex, every other one as base64 (the proto3 JSON mapping). */
const HEX_IDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** Held to no count here: the request passed every limit when it was accepted. */
const UNLIMITED = { limit: Number.MAX_SAFE_INTEGER, code: '', noun: 'values', setting: '' };

/**
 * The body as parts whose concatenation it is, so that protobuf rows passed through go to the
 * socket as they were read, without a copy into one buffer.
 */
export function requestBody(signal: Signal, rows: readonly OutboxRow[], format: WireFormat, dropAttributes: ReadonlySet<string>): readonly Buffer[] {
  if (dropAttributes.size === 0 && rows.every((row) => row.encoding === format) && (format === 'protobuf' || rows.length === 1)) {
    return rows.map((row) => Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength));
  }
  const type = otlpTypes[signal].request;
  const field = RESOURCES[signal];
  const merged = type.create({ [field]: rows.flatMap((row) => (decodeRow(type, row) as unknown as Record<string, unknown[]>)[field] ?? []) });
  if (dropAttributes.size > 0) dropKeys(merged, dropAttributes);
  if (format === 'protobuf') return [Buffer.from(type.encode(merged).finish())];
  return [Buffer.from(JSON.stringify(hexIds(type.toObject(merged, { longs: String, enums: Number, bytes: String }))))];
}

function decodeRow(type: protobuf.Type, row: OutboxRow): protobuf.Message {
  if (row.encoding === 'protobuf') return type.decode(row.body);
  return type.fromObject(fromOtlpJson(parseJson(Buffer.from(row.body), { values: UNLIMITED, exactIntegers: true })) as Record<string, unknown>);
}

/** OTLP/JSON → what protobufjs' fromObject reads: lowerCamelCase keys, hex ids as bytes, no nulls. */
function fromOtlpJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromOtlpJson);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const key = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (v === null || key === '__proto__') continue;
    out[key] = HEX_IDS.has(key) && typeof v === 'string' ? Buffer.from(v, 'hex') : fromOtlpJson(v);
  }
  return out;
}

/** protobufjs' JSON form (bytes as base64) → OTLP/JSON (ids as hex). */
function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = HEX_IDS.has(key) && typeof v === 'string' ? Buffer.from(v, 'base64').toString('hex') : hexIds(v);
  return out;
}

/** Removes the attributes with these keys wherever attributes are: resources, scopes, records, events, links, points. */
function dropKeys(value: unknown, keys: ReadonlySet<string>): void {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return;
  if (Array.isArray(value)) {
    for (const item of value) dropKeys(item, keys);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [name, v] of Object.entries(record)) {
    if ((name === 'attributes' || name === 'filteredAttributes') && Array.isArray(v)) {
      record[name] = v.filter((kv: { key?: string }) => !keys.has(kv.key ?? ''));
    } else if (typeof v === 'object') dropKeys(v, keys);
  }
}
