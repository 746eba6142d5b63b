import { describe, expect, it } from 'vitest';
import { countLimits, type RequestLimits } from '../../collector/decode-limits.js';
import protobuf from 'protobufjs';
import { otlpTypes, scanProtobuf, type OtlpLimits } from '../../collector/otlp/decode.js';
import { onePassLogEventSteps, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { LongStrings } from '../../collector/otlp/long-strings.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { runNow } from '../../collector/otlp/steps.js';
import { ApiError } from '../../src/http/errors.js';
import { loadAgentFixture, AGENT_FIXTURES } from '../support/agent-fixtures.js';
import { encodeProtobuf } from '../support/otlp.js';
import { logsRequest } from '../support/protobuf-fields.js';
import { rng } from '../support/random.js';

/**
 * The one-pass read of a logs body (log-records.ts, checked-wire.ts) against the two-pass one it
 * stands in for (the scan, then the reader): whenever the one pass reads a body through, the scan
 * passes it and the reader gives the same events. Any other body is left to the two-pass read,
 * which alone decides its error, so the one pass must never read through a body the scan refuses,
 * whatever its bytes.
 */

const limitsOf = (limits: RequestLimits): OtlpLimits => {
  const { values, records } = countLimits(limits);
  return { values, records };
};
const WIDE = limitsOf({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 });

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

/** The body with one byte changed, a few bytes cut from its end, or a byte inserted. */
function damaged(r: ReturnType<typeof rng>, body: Buffer): Buffer {
  const at = r.int(0, body.length - 1);
  const kind = r.int(0, 2);
  if (kind === 0) {
    const copy = Buffer.from(body);
    copy[at] = r.pick([0x00, 0x01, 0x7f, 0x80, 0xc3, 0xe9, 0xff, copy[at]! ^ 0x08, copy[at]! + 1]) & 0xff;
    return copy;
  }
  if (kind === 1) return body.subarray(0, at);
  return Buffer.concat([body.subarray(0, at), Buffer.from([r.pick([0x80, 0xff, 0x0a, 0x12, 0x00])]), body.subarray(at)]);
}

/** A length-delimited field, written by hand for bodies the schema's encoder would not make (lengths below 2^14). */
function field(number: number, payload: Buffer): Buffer {
  const length = payload.length < 0x80 ? [payload.length] : [(payload.length & 0x7f) | 0x80, payload.length >> 7];
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), payload]);
}

describe('the one-pass read of log records', () => {
  it('reads the captured agents\' exports through, with the events of the two-pass read', () => {
    let read = 0;
    for (const file of AGENT_FIXTURES) {
      for (const { seq, signal, body } of loadAgentFixture(file).requests) {
        if (signal !== 'logs') continue;
        const bytes = Buffer.from(encodeProtobuf('logs', body));
        expect(expectSound(bytes, WIDE, `${file} #${seq}`), `${file} #${seq} read in one pass`).toBe(true);
        read++;
      }
    }
    expect(read).toBeGreaterThan(0);
  });

  it('never reads through a body the scan refuses: random bodies, damaged bodies, small limits', () => {
    const r = rng(16);
    let through = 0, refused = 0, bodies = 0;
    for (let i = 0; i < 3000; i++) {
      const body = logsRequest(r);
      const limits = r.int(0, 3) === 0
        ? limitsOf({ maxValuesPerRequest: r.int(1, 200), maxRecordsPerRequest: r.int(1, 6), maxEventsPerRequest: 10 })
        : WIDE;
      for (const variant of [body, damaged(r, body), damaged(r, body), damaged(r, damaged(r, body))]) {
        const label = `body #${i} of seed 16 (${variant === body ? 'as made' : 'damaged'})`;
        if (expectSound(variant, limits, label)) through++;
        else if ('error' in twoPass(variant, limits)) refused++;
        bodies++;
      }
    }
    // Both ways are exercised, and no body the two-pass read accepts was left to it.
    expect(through).toBeGreaterThan(bodies / 20);
    expect(refused).toBeGreaterThan(bodies / 2);
    expect(through + refused).toBe(bodies);
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
