import { describe, expect, it } from 'vitest';
import { countLimits } from '../../collector/decode-limits.js';
import { decodeExport, otlpTypes } from '../../collector/otlp/decode.js';
import { logRecordsToEvents } from '../../collector/otlp/log-records.js';
import { ExportLogsRequest, type LogRecord } from '../../collector/otlp/logs-request.js';
import { SPAN_FIELDS, SPAN_OR_RESOURCE_FIELDS, SPAN_RULE_ATTRIBUTES, TAG_PREFIX, TOKEN_ATTRIBUTES } from '../../collector/otlp/mapping.js';
import { ExportTraceRequest, type TraceSpan } from '../../collector/otlp/request.js';
import { protobufScanner } from '../../collector/otlp/scan.js';
import { SpanMemory } from '../../collector/otlp/span-memory.js';
import { spansToEvents } from '../../collector/otlp/spans.js';
import { describeIssue } from '../../src/event/validate.js';
import { ApiError } from '../../src/http/errors.js';
import { AGENT_FIXTURES, loadAgentFixture } from '../support/agent-fixtures.js';
import { encodeProtobuf } from '../support/otlp.js';
import { rng } from '../support/random.js';

/**
 * The protobuf decoders that read the wire directly (traces-protobuf.ts, logs-protobuf.ts) against
 * the reference they replace: protobufjs's decode, its toObject, then the request schema. Both must
 * give the same records — for a span without usage, the same attributes the span rules read — and
 * refuse the same bodies with the same message.
 */

const counts = countLimits({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 });
const SCHEMAS = { traces: ExportTraceRequest, logs: ExportLogsRequest } as const;
const recordType = (name: string) => otlpTypes.traces.request.root.lookupType(name);
const SCANS = {
  traces: protobufScanner(otlpTypes.traces.request, [recordType('opentelemetry.proto.trace.v1.Span')]),
  logs: protobufScanner(otlpTypes.logs.request, [recordType('opentelemetry.proto.logs.v1.LogRecord')]),
};

type Outcome<T> = { records: T } | { error: string };

function outcome<T>(decode: () => T): Outcome<T> {
  try {
    return { records: decode() };
  } catch (error) {
    if (error instanceof ApiError) return { error: `${error.status} ${error.message}` };
    throw error;
  }
}

/** The reference: protobufjs's object of the body, read by the schema, after the same scan. */
function reference(signal: 'traces' | 'logs', body: Buffer) {
  return outcome(() => {
    const { request } = otlpTypes[signal];
    // The scan's refusals are the same either way: the fast path runs it too.
    SCANS[signal](body, { values: counts.values, records: counts.records });
    const parsed = SCHEMAS[signal].safeParse(request.toObject(request.decode(body), { longs: String }));
    if (!parsed.success) throw new ApiError(400, 'bad_request', describeIssue(parsed.error.issues));
    return parsed.data;
  });
}

const USAGE_KEYS = new Set<string>(Object.values(TOKEN_ATTRIBUTES).flat());
const KEPT_OF_OTHERS = new Set<string>([...SPAN_FIELDS.operation, ...SPAN_FIELDS.agent_id, ...SPAN_OR_RESOURCE_FIELDS.project]);
const keptOfCalls = (key: string) => SPAN_RULE_ATTRIBUTES.has(key) || key.startsWith(TAG_PREFIX);

const withoutAttributes = ({ attributes: _, ...rest }: TraceSpan) => rest;

/**
 * A span as the fast path keeps it, in the order the schema gives them: when a usage count's key is
 * on it (its value may be no scalar, which the schema leaves out), the attributes the span rules read
 * of a call, else those they read of an ancestor; without any of those, maybe no name and no times.
 */
function expectKept(got: TraceSpan, want: TraceSpan, label: string) {
  const whole = got.attributes.size > 0 || got.name !== '' || got.startNanos !== 0n || got.endNanos !== 0n;
  const unread = { name: '', startNanos: 0n, endNanos: 0n };
  expect(withoutAttributes(got), label).toEqual({ ...withoutAttributes(want), ...(!whole && unread) });
  const ofCalls = [...want.attributes].filter(([k]) => keptOfCalls(k));
  const ofOthers = [...want.attributes].filter(([k]) => KEPT_OF_OTHERS.has(k));
  const usage = [...want.attributes.keys()].some((k) => USAGE_KEYS.has(k));
  expect(usage ? [ofCalls] : [ofCalls, ofOthers], label).toContainEqual([...got.attributes]);
}

/** Whether the reference refused the body. */
function expectSameTraces(body: Buffer, label: string): boolean {
  const want = reference('traces', body) as Outcome<TraceSpan[]>;
  const got = outcome(() => decodeExport('traces', body, 'protobuf', counts));
  if ('error' in want || !('records' in got)) {
    expect(got, label).toEqual(want);
    return 'error' in want;
  }
  expect(got.records.length, label).toBe(want.records.length);
  got.records.forEach((span, i) => expectKept(span, want.records[i]!, label));
  const events = (spans: readonly TraceSpan[]) => spansToEvents(spans, new SpanMemory(), null);
  expect(events(got.records), label).toEqual(events(want.records));
  return false;
}

/** Whether the reference refused the body. */
function expectSameLogs(body: Buffer, label: string): boolean {
  const want = reference('logs', body) as Outcome<LogRecord[]>;
  const got = outcome(() => decodeExport('logs', body, 'protobuf', counts));
  expect(got, label).toEqual(want);
  if ('records' in want) expect(logRecordsToEvents((got as { records: LogRecord[] }).records), label).toEqual(logRecordsToEvents(want.records));
  return 'error' in want;
}

describe('the captured agents\' exports', () => {
  it.each(AGENT_FIXTURES)('%s: the same spans, log records and events', (file) => {
    const fixture = loadAgentFixture(file);
    let compared = 0;
    for (const { seq, signal, body } of fixture.requests) {
      if (signal === 'metrics') continue;
      const bytes = Buffer.from(encodeProtobuf(signal, body));
      if (signal === 'traces') expectSameTraces(bytes, `${file} #${seq}`);
      else expectSameLogs(bytes, `${file} #${seq}`);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  });
});

/**
 * Protobuf written field by field, so that a body can hold what no encoder writes but a client may
 * send: fields repeated, sent under another wire type, unknown, out of order, messages to merge,
 * several members of a oneof.
 */
type Field = [number, 'varint', bigint] | [number, 'fixed64', bigint] | [number, 'fixed32', number] | [number, 'bytes', Buffer | Field[]];

function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

function encode(fields: readonly Field[]): Buffer {
  return Buffer.concat(fields.map(([number, kind, value]) => {
    if (kind === 'varint') return Buffer.from([...varint(BigInt(number << 3)), ...varint(value)]);
    if (kind === 'fixed64') {
      const bytes = Buffer.alloc(8);
      bytes.writeBigUInt64LE(BigInt.asUintN(64, value));
      return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 1))), bytes]);
    }
    if (kind === 'fixed32') {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(value >>> 0);
      return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 5))), bytes]);
    }
    const payload = Buffer.isBuffer(value) ? value : encode(value);
    return Buffer.concat([Buffer.from(varint(BigInt((number << 3) | 2))), Buffer.from(varint(BigInt(payload.length))), payload]);
  }));
}

type Random = ReturnType<typeof rng>;
const text = (s: string): Buffer => Buffer.from(s, 'utf8');

const KEYS = [
  ...Object.values(TOKEN_ATTRIBUTES).flat(), ...SPAN_FIELDS.model, ...SPAN_FIELDS.operation, ...SPAN_FIELDS.agent_id, 'tokentally.project',
  'tokentally.tag.team', 'service.name', 'gen_ai.response.id', 'event.name', 'event.kind', 'request_id', 'session.id', 'input_tokens', 'output_tokens',
  'model', 'code.file.path', 'é', '', 'gen_ai.system', 'ai.usage.cachedInputTokens', 'ai.response.providerMetadata', 'tokentally.tag.',
  'tokentally.tagx', 'gen_ai.usage.input_tokenz', 'gXn_ai.usage.input_tokens', 'llm.cost.total', 'server.address',
];
const TEXTS = ['chat', 'invoke_agent', 'AGENT', 'LLM', 'gpt-4o', 'planner', 'claude_code.api_request', 'api_request', 'response.completed', '', 'é✓', '12', '-3', '1e3'];
const INTS = [0n, 1n, 7n, 1200n, -5n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 64n - 1n];

/** An AnyValue's members, one or several (the last one sent counts), nested up to `depth`. */
function anyValue(r: Random, depth: number): Field[] {
  const members: Field[] = [];
  for (let m = r.int(0, 3) === 0 ? r.int(0, 3) : 1; m > 0; m--) {
    const kind = r.int(0, depth > 0 ? 8 : 5);
    if (kind === 0) members.push([1, 'bytes', text(r.pick(TEXTS))]);
    else if (kind === 1) members.push([2, 'varint', BigInt(r.int(0, 2))]);
    else if (kind === 2) members.push([3, 'varint', r.pick(INTS)]);
    else if (kind === 3) members.push([4, 'fixed64', r.pick([0x3ff8000000000000n, 0x7ff8000000000000n, 0x4093480000000000n])]);
    else if (kind === 4) members.push([7, 'bytes', Buffer.from([r.int(0, 255), r.int(0, 255)]).subarray(0, r.int(0, 2))]);
    else if (kind === 5) members.push([8, 'varint', BigInt(r.int(0, 3))]);
    else if (kind === 6) members.push([5, 'bytes', Array.from({ length: r.int(0, 3) }, (): Field => [1, 'bytes', anyValue(r, depth - 1)])]);
    else members.push([6, 'bytes', Array.from({ length: r.int(0, 3) }, (): Field => [1, 'bytes', keyValue(r, depth - 1)])]);
    // A member under the wrong wire type is skipped.
    if (r.int(0, 12) === 0) members.push([r.int(1, 8), 'fixed32', 7]);
  }
  return members;
}

function keyValue(r: Random, depth: number): Field[] {
  const fields: Field[] = [];
  const key = r.int(0, 30) === 0 ? '' : r.pick(KEYS);
  if (key !== '' || r.int(0, 1) === 0) fields.push([1, 'bytes', text(key)]);
  for (let v = r.int(0, 6) === 0 ? r.int(0, 2) : 1; v > 0; v--) fields.push([2, 'bytes', anyValue(r, depth)]);
  if (r.int(0, 6) === 0) fields.reverse();
  return fields;
}

const attributes = (r: Random, field: number, depth: number): Field[] =>
  Array.from({ length: r.int(0, 6) }, (): Field => [field, 'bytes', keyValue(r, depth)]);

/** An id of the right length mostly; sometimes absent, empty, or of another length. */
function id(r: Random, field: number, bytes: number): Field[] {
  const roll = r.int(0, 40);
  if (roll === 0) return [];
  const length = roll === 1 ? 0 : roll === 2 ? bytes - 1 : bytes;
  return [[field, 'bytes', Buffer.from(Array.from({ length }, () => r.int(0, 3)))]];
}

const SHARED_TRACE = Buffer.alloc(16, 0x5a);

function span(r: Random, n: number): Field[] {
  const fields: Field[] = [
    ...(r.int(0, 3) === 0 ? id(r, 1, 16) : [[1, 'bytes', SHARED_TRACE] as Field]),
    [2, 'bytes', Buffer.from([0, 0, 0, 0, 0, 0, r.int(0, 1), n])],
    ...(r.int(0, 1) === 0 ? [[4, 'bytes', Buffer.from([0, 0, 0, 0, 0, 0, 0, r.int(0, n)])] as Field] : id(r, 4, 8).slice(0, r.int(0, 1))),
    [5, 'bytes', text(r.pick(['chat gpt-4o', 'invoke_agent planner', 'ai.generateText.doGenerate', 'GET', '']))],
    [6, 'varint', BigInt(r.pick([0, 1, 3, -1]))],
    [7, 'fixed64', 1_793_700_000_000_000_000n + BigInt(r.int(0, 1e9))],
    [8, 'fixed64', r.int(0, 8) === 0 ? 0n : 1_793_700_001_000_000_000n + BigInt(r.int(0, 1e9))],
    ...attributes(r, 9, 1),
    ...Array.from({ length: r.int(0, 2) }, (): Field => [15, 'bytes', [[2, 'bytes', text('m')], [3, 'varint', BigInt(r.int(0, 2))]]]),
  ];
  // Repeats, wrong wire types and unknown fields, at random places.
  for (let extra = r.int(0, 3); extra > 0; extra--) {
    const at = r.int(0, fields.length);
    fields.splice(at, 0, r.pick<Field>([[r.int(1, 16), 'varint', 3n], [r.int(1, 16), 'fixed32', 1], [99, 'bytes', text('x')], ...(fields.length ? [r.pick(fields)] : [])]));
  }
  if (r.int(0, 4) === 0) fields.reverse();
  return fields;
}

/** A resource or scope message, or nothing, or the message sent twice (merged). */
function repeated(r: Random, field: number, make: () => Field[]): Field[] {
  return Array.from({ length: r.pick([0, 1, 1, 1, 2]) }, (): Field => [field, 'bytes', make()]);
}

const scopeFields = (r: Random): Field[] => [
  ...(r.int(0, 3) ? [[1, 'bytes', text(r.pick(['@traceloop/instrumentation-anthropic', 'gemini-cli', 'codex_otel.log_only', '']))] as Field] : []),
  ...(r.int(0, 1) ? [[2, 'bytes', text(r.pick(['0.1.0', '1.2.3']))] as Field] : []),
];
const resourceFields = (r: Random): Field[] => [
  ...(r.int(0, 1) ? [[1, 'bytes', [[1, 'bytes', text('service.name')], [2, 'bytes', [[1, 'bytes', text(r.pick(['planner', 'claude-code', 'codex_exec', 'copilot-chat']))]]]]] as Field] : []),
  ...attributes(r, 1, 1),
];

function traceRequest(r: Random): Buffer {
  let n = 0;
  return encode(Array.from({ length: r.int(1, 2) }, (): Field => [1, 'bytes', [
    ...repeated(r, 1, () => resourceFields(r)),
    ...Array.from({ length: r.int(1, 2) }, (): Field => [2, 'bytes', [
      ...repeated(r, 1, () => scopeFields(r)),
      ...Array.from({ length: r.int(0, 6) }, (): Field => [2, 'bytes', span(r, n++)]),
    ]]),
  ]]));
}

function logRecord(r: Random): Field[] {
  const fields: Field[] = [
    [1, 'fixed64', r.int(0, 2) === 0 ? 0n : 1_793_700_000_000_000_000n + BigInt(r.int(0, 1e9))],
    [11, 'fixed64', 1_793_700_000_000_000_000n],
    [2, 'varint', BigInt(r.int(0, 17))],
    [3, 'bytes', text(r.pick(['INFO', '']))],
    ...repeated(r, 5, () => anyValue(r, 3)),
    ...attributes(r, 6, 3),
    ...id(r, 9, 16).slice(0, r.int(0, 1)),
    ...id(r, 10, 8).slice(0, r.int(0, 1)),
    [12, 'bytes', text(r.pick(['claude_code.api_request', 'gen_ai.client.inference.operation.details', '']))],
    [8, 'fixed32', 1],
  ];
  for (let extra = r.int(0, 3); extra > 0; extra--) fields.splice(r.int(0, fields.length), 0, r.pick(fields));
  if (r.int(0, 4) === 0) fields.reverse();
  return fields;
}

function logsRequest(r: Random): Buffer {
  return encode(Array.from({ length: r.int(1, 2) }, (): Field => [1, 'bytes', [
    ...repeated(r, 1, () => resourceFields(r)),
    ...Array.from({ length: r.int(1, 2) }, (): Field => [2, 'bytes', [...repeated(r, 1, () => scopeFields(r)), ...Array.from({ length: r.int(0, 4) }, (): Field => [2, 'bytes', logRecord(r)])]]),
  ]]));
}

/** Bodies per signal; the seed replays a failure (its label names the body's number). */
const BODIES = 1500;

describe('random bodies, byte by byte', () => {
  it.each<[string, number, (r: Random) => Buffer, (body: Buffer, label: string) => boolean]>([
    ['traces', 22, traceRequest, expectSameTraces],
    ['logs', 19, logsRequest, expectSameLogs],
  ])('%s: the same records and events, or the same refusal', (signal, seed, request, expectSame) => {
    const r = rng(seed);
    let refused = 0;
    for (let i = 0; i < BODIES; i++) if (expectSame(request(r), `${signal} #${i} of seed ${seed}`)) refused++;
    // Both outcomes are exercised.
    expect(refused).toBeGreaterThan(BODIES / 20);
    expect(refused).toBeLessThan(BODIES * 0.95);
  }, 180_000);
});
