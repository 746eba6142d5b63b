import { describe, expect, it } from 'vitest';
import { genAiTraceBodies, mixedTraceBodies } from '../../bench/otlp.js';
import protobuf from 'protobufjs';
import { otlpTypes, scanProtobuf, type OtlpLimits } from '../../collector/otlp/decode.js';
import { LongStrings, MAX_OTLP_STRING_BYTES } from '../../collector/otlp/long-strings.js';
import type { TraceSpan } from '../../collector/otlp/request.js';
import { SpanMemory } from '../../collector/otlp/span-memory.js';
import { spansToEvents } from '../../collector/otlp/spans.js';
import { runNow } from '../../collector/otlp/steps.js';
import { onePassSpanSteps } from '../../collector/otlp/traces-one-pass.js';
import { traceSpanSteps } from '../../collector/otlp/traces-protobuf.js';
import { ApiError } from '../../src/http/errors.js';
import { traceRequest } from '../support/protobuf-fields.js';
import { capturedBodies, expectSoundOverRandomBodies, field, limitsOf, WIDE } from '../support/one-pass.js';

/**
 * The one-pass read of a traces body (traces-one-pass.ts: the span reader through CheckedWire, the
 * fields it passes over walked by the scan's rules) against the two-pass one it stands in for (the
 * scan, then the reader): whenever the one pass reads a body through, the scan passes it and the
 * reader gives the same spans, so the same events, ids and aggregates. Any other body is left to
 * the two-pass read, which alone decides its error.
 */

type TwoPass = { spans: TraceSpan[] } | { error: string };

function twoPass(body: Buffer, limits: OtlpLimits): TwoPass {
  try {
    const long = new LongStrings();
    scanProtobuf('traces', body, limits, long);
    if (long.paths.length > 0) return { error: `long strings at ${long.paths.join(', ')}` };
    return { spans: runNow(traceSpanSteps(body)) };
  } catch (error) {
    if (error instanceof ApiError) return { error: `${error.status} ${error.message}` };
    throw error;
  }
}

/** The one pass's spans, or undefined when it left the body to the two-pass read. */
const onePass = (body: Buffer, limits: OtlpLimits): TraceSpan[] | undefined => runNow(onePassSpanSteps(body, limits));

const events = (spans: readonly TraceSpan[]) => spansToEvents(spans, new SpanMemory(), null);

/** Whether the one pass read the body through (and then gave the two-pass spans and events). */
function expectSound(body: Buffer, limits: OtlpLimits, label: string): boolean {
  const spans = onePass(body, limits);
  if (spans === undefined) return false;
  const want = twoPass(body, limits);
  expect(want, label).toEqual({ spans });
  expect(events(spans), label).toEqual(events((want as { spans: TraceSpan[] }).spans));
  return true;
}

const TRACE = field(1, Buffer.alloc(16, 0x5a));
const SPAN = field(2, Buffer.alloc(8, 0x11));
const usage = field(9, Buffer.concat([field(1, Buffer.from('gen_ai.usage.input_tokens')), field(2, Buffer.from([3 << 3, 7]))]));
/** A request of one span with usage and `extra` fields. */
const spanBody = (extra: Buffer) => field(1, field(2, field(2, Buffer.concat([TRACE, SPAN, usage, extra]))));

describe('the one-pass read of spans', () => {
  it('reads the captured agents\' exports and the bench loads through, with the spans and events of the two-pass read', () => {
    for (const { label, body } of capturedBodies('traces')) expect(expectSound(body, WIDE, label), `${label} read in one pass`).toBe(true);
    for (const body of [genAiTraceBodies(100)(3), mixedTraceBodies(500)(5)]) expect(expectSound(body, WIDE, 'bench')).toBe(true);
  });

  it('never reads through a body the scan refuses: random bodies, damaged bodies, small limits', () => {
    expectSoundOverRandomBodies(17, traceRequest, { values: 300, records: 8 }, expectSound, (body, limits) => 'error' in twoPass(body, limits));
  }, 180_000);

  it('leaves deep lists of values in the fields it passes over to the two-pass read, exactly where the scan refuses them', () => {
    // AnyValue: array_value (5) → ArrayValue: values (1) → AnyValue … (two messages a list), then string_value (1).
    const arrays = (depth: number, inner: Buffer): Buffer => (depth === 0 ? inner : field(5, field(1, arrays(depth - 1, inner))));
    // AnyValue: kvlist_value (6) → KeyValueList: values (1) → KeyValue: key (1), value (2) → AnyValue … (three a list).
    const kvlists = (depth: number, inner: Buffer): Buffer =>
      (depth === 0 ? inner : field(6, field(1, Buffer.concat([field(1, Buffer.from('k')), field(2, kvlists(depth - 1, inner))]))));
    const attribute = (number: number, value: Buffer, key = 'a') => field(number, Buffer.concat([field(1, Buffer.from(key)), field(2, value)]));
    // In a span's attributes (field 9) under a key the reader passes over and one it reads, an event's (field 11, its attributes 3) and a link's (field 13, its attributes 4).
    const places = [
      (v: Buffer) => attribute(9, v), (v: Buffer) => attribute(9, v, 'gen_ai.request.model'),
      (v: Buffer) => field(11, attribute(3, v)), (v: Buffer) => field(13, attribute(4, v)),
    ];
    let refused = 0;
    for (const place of places) {
      // Every nesting level around the scan's limit: kvlists three levels at a time, arrays within them one or two more.
      for (let kv = 16; kv <= 21; kv++) {
        for (let arrays_ = 0; arrays_ <= 2; arrays_++) {
          const body = spanBody(place(kvlists(kv, arrays(arrays_, field(1, Buffer.from('x'))))));
          const want = twoPass(body, WIDE);
          const got = onePass(body, WIDE);
          if ('error' in want) {
            expect(want.error).toMatch(/^400 .*nested more than/);
            expect(got).toBeUndefined();
            refused++;
          } else expect(got, `${kv} kvlists, ${arrays_} arrays`).toEqual(want.spans);
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(places.length * 18);
  });

  it('leaves a field that runs past its span or its status to the two-pass read', () => {
    // The span's (or the status's) length leaves its last `cut` bytes out: they, and `extra`, read as fields of the scope (or the span).
    const overrun = (last: Buffer, cut: number, extra: number[] = []) => {
      const span = Buffer.concat([TRACE, SPAN, usage, last]);
      const head = Buffer.from([(2 << 3) | 2, span.length - cut]);
      return field(1, field(2, Buffer.concat([head, span, Buffer.from(extra)])));
    };
    const bodies = [
      // The end time (its last four bytes two unknown varint fields, 5, of the scope).
      overrun(Buffer.from([0x41, 0, 0, 0, 0, 0x28, 1, 0x28, 1]), 4),
      // The kind, a varint of two bytes.
      overrun(Buffer.from([0x30, 0x80, 0x28]), 1, [1]),
      // The trace id, and a KeyValue of the attributes.
      overrun(field(1, Buffer.concat([Buffer.alloc(14, 0x5a), Buffer.from([0x28, 1])])), 2),
      overrun(field(9, Buffer.concat([field(1, Buffer.from('k')), Buffer.from([0x28, 1])])), 2),
      // The status, and its code past the status's end (within the span).
      overrun(field(15, Buffer.from([0x18, 2, 0x28, 1])), 2),
      spanBody(Buffer.from([(15 << 3) | 2, 2, 0x18, 0x82, 0x01])),
    ];
    for (const body of bodies) {
      expect(twoPass(body, WIDE)).toMatchObject({ error: expect.stringMatching(/^400 body is not a protobuf .*(past its message|truncated varint)/) });
      expect(onePass(body, WIDE)).toBeUndefined();
    }
  });

  it('reads five-byte tags and lengths through, as the scan takes them, and leaves a bad fifth byte to it', () => {
    const five = (value: number, fifth = value >>> 28) => Buffer.from([0, 7, 14, 21].map((shift) => ((value >>> shift) & 0x7f) | 0x80).concat(fifth));
    // An unknown varint field numbered 2^27, the trace state (3) and the name (5) with lengths of five bytes; the same in an event (its name, 2).
    const bigTag = Buffer.concat([five(2 ** 30), Buffer.from([1])]);
    const longLength = (number: number) => Buffer.concat([Buffer.from([(number << 3) | 2]), five(3), Buffer.from('xyz')]);
    const inEvent = (extra: Buffer) => field(11, extra);
    for (const extra of [bigTag, longLength(3), longLength(5), inEvent(bigTag), inEvent(longLength(2))]) {
      const want = twoPass(spanBody(extra), WIDE);
      expect(want).toMatchObject({ spans: [expect.anything()] });
      expect(onePass(spanBody(extra), WIDE)).toEqual((want as { spans: TraceSpan[] }).spans);
    }
    for (const extra of [Buffer.concat([five(2 ** 30, 0x10), Buffer.from([1])]), Buffer.concat([Buffer.from([(5 << 3) | 2]), five(3, 0x08), Buffer.from('xyz')])]) {
      expect(twoPass(spanBody(extra), WIDE)).toMatchObject({ error: expect.stringMatching(/^400 /) });
      expect(onePass(spanBody(extra), WIDE)).toBeUndefined();
    }
  });

  it('leaves a body to the two-pass read at the values limit, exactly where the scan counts past it', () => {
    const event = field(11, Buffer.concat([field(2, Buffer.from('e')), field(3, Buffer.concat([field(1, Buffer.from('k')), field(2, field(1, Buffer.from('v')))]))]));
    const status = field(15, Buffer.from([(3 << 3), 2, (2 << 3) | 2, 1, 0x6d]));
    const body = spanBody(Buffer.concat([field(5, Buffer.from('chat')), event, status]));
    // resource_spans, scope_spans, spans, trace_id, span_id, attributes, key, value, int_value, name,
    // events, name, attributes, key, value, string_value, status, code, message: 19 values.
    const at = (values: number) => limitsOf({ maxValuesPerRequest: values, maxRecordsPerRequest: 10, maxEventsPerRequest: 10 });
    expect(twoPass(body, at(18))).toMatchObject({ error: expect.stringMatching(/^413 /) });
    expect(onePass(body, at(18))).toBeUndefined();
    const want = twoPass(body, at(19));
    expect(want).toMatchObject({ spans: [expect.objectContaining({ name: 'chat', statusCode: 2 })] });
    expect(onePass(body, at(19))).toEqual((want as { spans: TraceSpan[] }).spans);
  });

  it('leaves invalid UTF-8 and long strings in the fields it passes over to the two-pass read', () => {
    const bad = Buffer.from([0x61, 0xc3]);
    const kv = (key: Buffer, value: Buffer) => field(9, Buffer.concat([field(1, key), field(2, field(1, value))]));
    for (const extra of [field(5, bad), field(3, bad), kv(bad, Buffer.from('v')), kv(Buffer.concat([Buffer.from('tokentally.tag.'), bad]), Buffer.from('v')), kv(Buffer.from('k'), bad), field(15, field(2, bad)), field(11, field(2, bad))]) {
      expect(twoPass(spanBody(extra), WIDE)).toMatchObject({ error: expect.stringMatching(/^400 .*UTF-8/) });
      expect(onePass(spanBody(extra), WIDE)).toBeUndefined();
    }
    const long = field(5, Buffer.alloc(MAX_OTLP_STRING_BYTES + 1, 0x61));
    expect(twoPass(spanBody(long), WIDE)).toMatchObject({ error: expect.stringMatching(/^long strings at .*spans\[0\]\.name/) });
    expect(onePass(spanBody(long), WIDE)).toBeUndefined();
  });

  it('relies on a schema it holds: the fields of a Span the reader reads itself, every other one walked by the scan\'s rules', () => {
    // traces-protobuf.ts reads ids, kind, times, attributes' KeyValues and the Status's code itself;
    // everything else goes through `pass`. A new field of those three messages fails here.
    const names = (type: string) => otlpTypes.traces.request.lookupType(type).fieldsArray.map((f: protobuf.Field) => `${f.id} ${f.name}`);
    expect(names('opentelemetry.proto.trace.v1.Span')).toEqual([
      '1 traceId', '2 spanId', '3 traceState', '4 parentSpanId', '16 flags', '5 name', '6 kind', '7 startTimeUnixNano', '8 endTimeUnixNano',
      '9 attributes', '10 droppedAttributesCount', '11 events', '12 droppedEventsCount', '13 links', '14 droppedLinksCount', '15 status',
    ]);
    expect(names('opentelemetry.proto.common.v1.KeyValue')).toEqual(['1 key', '2 value', '3 keyStrindex']);
    expect(names('opentelemetry.proto.trace.v1.Status')).toEqual(['2 message', '3 code']);
  });
});
