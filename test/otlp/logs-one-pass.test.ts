import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { otlpTypes, scanProtobuf, type OtlpLimits } from '../../collector/otlp/decode.js';
import { onePassLogEventSteps, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { LongStrings } from '../../collector/otlp/long-strings.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { runNow } from '../../collector/otlp/steps.js';
import { ApiError } from '../../src/http/errors.js';
import { logsRequest } from '../support/protobuf-fields.js';
import { encodeProtobuf } from '../support/otlp.js';
import { capturedBodies, expectSoundOverRandomBodies, field, limitsOf, WIDE } from '../support/one-pass.js';

/**
 * The one-pass read of a logs body (log-records.ts, checked-wire.ts) against the two-pass one it
 * stands in for (the scan, then the reader): whenever the one pass reads a body through, the scan
 * passes it and the reader gives the same events. Any other body is left to the two-pass read,
 * which alone decides its error, so the one pass must never read through a body the scan refuses,
 * whatever its bytes.
 */

type TwoPass = { events: MappedEvent[] } | { error: string };

function twoPass(body: Buffer, limits: OtlpLimits): TwoPass {
  const events: MappedEvent[] = [];
  try {
    const long = new LongStrings();
    scanProtobuf('logs', body, limits, long);
    if (long.paths.length > 0) return { error: `long strings at ${long.paths.join(', ')}` };
    runNow(wireLogEventSteps(body, (event) => events.push(event)));
    return { events };
  } catch (error) {
    if (error instanceof ApiError) return { error: `${error.status} ${error.message}` };
    throw error;
  }
}

/** The one pass's events, or undefined when it left the body to the two-pass read. */
function onePass(body: Buffer, limits: OtlpLimits): MappedEvent[] | undefined {
  const events: MappedEvent[] = [];
  return runNow(onePassLogEventSteps(body, limits, (event) => events.push(event))) ? events : undefined;
}

/** Whether the one pass read the body through (and then gave the two-pass events). */
function expectSound(body: Buffer, limits: OtlpLimits, label: string): boolean {
  const events = onePass(body, limits);
  if (events === undefined) return false;
  expect(twoPass(body, limits), label).toEqual({ events });
  return true;
}

describe('the one-pass read of log records', () => {
  it('reads the captured agents\' exports through, with the events of the two-pass read', () => {
    for (const { label, body } of capturedBodies('logs')) expect(expectSound(body, WIDE, label), `${label} read in one pass`).toBe(true);
  });

  it('never reads through a body the scan refuses: random bodies, damaged bodies, small limits', () => {
    expectSoundOverRandomBodies(16, logsRequest, { values: 200, records: 6 }, expectSound, (body, limits) => 'error' in twoPass(body, limits));
  }, 180_000);

  it('leaves deep lists of values to the two-pass read, before its scan refuses them', () => {
    // AnyValue: array_value (5) → ArrayValue: values (1) → AnyValue …, then string_value (1).
    const nested = (depth: number): Buffer => (depth === 0 ? field(1, Buffer.from('x')) : field(5, field(1, nested(depth - 1))));
    // AnyValue: kvlist_value (6) → KeyValueList: values (1) → KeyValue: key (1), value (2) → AnyValue …
    const nestedKv = (depth: number): Buffer =>
      (depth === 0 ? field(1, Buffer.from('x')) : field(6, field(1, Buffer.concat([field(1, Buffer.from('k')), field(2, nestedKv(depth - 1))]))));
    const body = (value: Buffer) => field(1, field(2, field(2, field(6, Buffer.concat([field(1, Buffer.from('a')), field(2, value)])))));
    expect(twoPass(body(nested(29)), WIDE)).toEqual({ events: [] });
    expect(twoPass(body(nested(30)), WIDE)).toMatchObject({ error: expect.stringMatching(/^400 .*nested more than/) });
    expect(twoPass(body(nestedKv(19)), WIDE)).toEqual({ events: [] });
    expect(twoPass(body(nestedKv(20)), WIDE)).toMatchObject({ error: expect.stringMatching(/^400 .*nested more than/) });
    expect(onePass(body(nested(19)), WIDE)).toEqual([]);
    expect(onePass(body(nestedKv(19)), WIDE)).toEqual([]);
    for (const depth of [20, 25, 29, 30, 200]) {
      expect(onePass(body(nested(depth)), WIDE), `${depth} arrays`).toBeUndefined();
      expect(onePass(body(nestedKv(depth)), WIDE), `${depth} key-value lists`).toBeUndefined();
    }
  });

  it('reads five-byte tags and lengths through, as the scan takes them, and leaves a bad fifth byte to it', () => {
    // A value in five bytes, non-canonically when it is small, with `fifth` as its fifth byte.
    const five = (value: number, fifth = value >>> 28) => Buffer.from([0, 7, 14, 21].map((shift) => ((value >>> shift) & 0x7f) | 0x80).concat(fifth));
    const attribute = field(6, Buffer.concat([field(1, Buffer.from('a')), field(2, field(1, Buffer.from('b')))]));
    const body = (extra: Buffer) => field(1, field(2, field(2, Buffer.concat([attribute, extra]))));
    // An unknown varint field numbered 2^27 (its tag 2^30), and an unknown string field (15) whose length takes five bytes.
    const bigTag = Buffer.concat([five(2 ** 30), Buffer.from([1])]);
    const longLength = Buffer.concat([Buffer.from([(15 << 3) | 2]), five(3), Buffer.from('xyz')]);
    for (const extra of [bigTag, longLength]) {
      expect(twoPass(body(extra), WIDE)).toEqual({ events: [] });
      expect(onePass(body(extra), WIDE)).toEqual([]);
    }
    // A tag's fifth byte with bits beyond 32, a length's beyond 31: the scan refuses both.
    for (const extra of [Buffer.concat([five(2 ** 30, 0x10), Buffer.from([1])]), Buffer.concat([Buffer.from([(15 << 3) | 2]), five(3, 0x08), Buffer.from('xyz')])]) {
      expect(twoPass(body(extra), WIDE)).toMatchObject({ error: expect.stringMatching(/^400 /) });
      expect(onePass(body(extra), WIDE)).toBeUndefined();
    }
  });

  it('leaves invalid UTF-8 to the two-pass read where a known ASCII key or value has nearly its bytes', () => {
    // The second record's key or value differs from the first's in one byte past the first four
    // (the reader's string caches compare four at a time), made invalid UTF-8.
    const record = (key: string, value: string) => ({ attributes: [{ key, value: { stringValue: value } }] });
    for (const [first, second, path] of [
      [record('model', 'abcdef'), record('model', 'abcdXf'), 'attributes[0].value.stringValue'],
      [record('abcdef', 'v'), record('abcdXf', 'v'), 'attributes[0].key'],
    ] as const) {
      const body = Buffer.from(encodeProtobuf('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [first, second] }] }] }));
      body[body.indexOf('abcdXf') + 4] = 0xff;
      expect(onePass(body, WIDE)).toBeUndefined();
      expect(twoPass(body, WIDE)).toEqual({ error: `400 resourceLogs[0].scopeLogs[0].logRecords[1].${path}: not valid UTF-8` });
    }
  });

  it('leaves a body to the two-pass read at the values limit, exactly where the scan counts past it', () => {
    const body = Buffer.from(encodeProtobuf('logs', { resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes: [{ key: 'a', value: { stringValue: 'b' } }] }] }] }] }));
    // resource_logs, scope_logs, log_records, attributes, key, value, string_value: 7 values.
    const at = (values: number) => limitsOf({ maxValuesPerRequest: values, maxRecordsPerRequest: 10, maxEventsPerRequest: 10 });
    expect(twoPass(body, at(6))).toMatchObject({ error: expect.stringMatching(/^413 /) });
    expect(onePass(body, at(6))).toBeUndefined();
    expect(twoPass(body, at(7))).toEqual({ events: [] });
    expect(onePass(body, at(7))).toEqual([]);
  });

  it('relies on a schema it holds: the messages inside a LogRecord and none of their fields packed', () => {
    // checked-wire.ts: the one pass checks what the reader reads, so it stands for the scan only while
    // every message a record holds is one the reader reads whole and none has a packed field. A new
    // field or message type in the vendored protos fails here, before it could open a gap.
    const logRecord = otlpTypes.logs.request.lookupType('opentelemetry.proto.logs.v1.LogRecord');
    const reached = new Map<string, protobuf.Type>();
    const visit = (type: protobuf.Type) => {
      if (reached.has(type.name)) return;
      reached.set(type.name, type);
      for (const field of type.fieldsArray) {
        field.resolve();
        if (field.resolvedType instanceof protobuf.Type) visit(field.resolvedType);
      }
    };
    visit(logRecord);
    expect([...reached.keys()].sort()).toEqual(['AnyValue', 'ArrayValue', 'KeyValue', 'KeyValueList', 'LogRecord']);
    const packable = [...reached.values()].flatMap((type) => type.fieldsArray
      .filter((field) => field.repeated && !(field.resolvedType instanceof protobuf.Type) && field.type !== 'string' && field.type !== 'bytes')
      .map((field) => `${type.name}.${field.name}`));
    expect(packable).toEqual([]);
  });
});
