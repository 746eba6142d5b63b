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
import { logsRequest, traceRequest, type Random } from '../support/protobuf-fields.js';
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
