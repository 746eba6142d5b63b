import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { CountLimit } from '../../collector/decode-limits.js';
import { otlpTypes } from '../../collector/otlp/decode.js';
import { protobufScanner } from '../../collector/otlp/scan.js';
import { rng } from '../support/random.js';
import { refusal } from '../support/refusal.js';

const traces = otlpTypes.traces.request;
const scan = protobufScanner(traces, [traces.root.lookupType('opentelemetry.proto.trace.v1.Span')]);
const count = (limit: number, noun: string): CountLimit => ({ limit, code: `too_many_${noun}`, noun, setting: 'SETTING' });
const limits = (values: number, records: number) => ({ values: count(values, 'values'), records: count(records, 'spans') });

const attribute = (key: string, value: Record<string, unknown>) => ({ key, value });
const span = (i: number) => ({
  traceId: Buffer.alloc(16, 0xab), spanId: Buffer.from([0, 0, 0, 0, 0, 0, 0, i]), name: `span ${i}`, kind: 3,
  startTimeUnixNano: '1793700000123456789', endTimeUnixNano: '1793700001623456789', status: { code: 2, message: 'é' },
  attributes: [
    attribute('gen_ai.usage.input_tokens', { intValue: 1200 }), attribute('ratio', { doubleValue: 0.5 }), attribute('flag', { boolValue: true }),
    attribute('list', { arrayValue: { values: [{ stringValue: 'a' }, { kvlistValue: { values: [attribute('k', { bytesValue: Buffer.from([1, 2]) })] } }] } }),
  ],
  events: [{ timeUnixNano: '1793700000123456789', name: 'exception', attributes: [attribute('exception.type', { stringValue: 'E' })] }],
  links: [{ traceId: Buffer.alloc(16, 0xcd), spanId: Buffer.alloc(8, 1), attributes: [attribute('why', { stringValue: 'retry' })] }],
});
/** A request using every kind of field the schema has, and some the scan only skips. */
const REQUEST = Buffer.from(traces.encode(traces.fromObject({
  resourceSpans: [
    {
      resource: { attributes: [attribute('service.name', { stringValue: 'planner' })], droppedAttributesCount: 1, entityRefs: [{ type: 'service', idKeys: ['service.name'] }] },
      scopeSpans: [{ scope: { name: 'scope', version: '1.0.0', attributes: [attribute('s', { stringValue: 'v' })] }, spans: [span(1), span(2)], schemaUrl: 'https://x' }],
    },
    { scopeSpans: [{ spans: [span(3)] }, { spans: [span(4)] }] },
  ],
})).finish());

const spansDecoded = (body: Uint8Array) =>
  (traces.decode(body) as unknown as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] }).resourceSpans
    .flatMap((rs) => rs.scopeSpans.map((ss) => ss.spans.length)).reduce((a, b) => a + b, 0);

/**
 * Mutates a valid request at random (bytes changed, inserted — `inserted` holds likely tags —
 * or dropped) and checks, for every body protobufjs still decodes, that the scan refuses it below
 * the number of records protobufjs builds from it.
 */
function expectCountsUnderMutation(o: { seed: number; runs: number; request: Buffer; inserted: number[]; decoded: (body: Buffer) => number; scan: typeof scan }) {
  const r = rng(o.seed);
  let bothAccepted = 0;
  for (let i = 0; i < o.runs; i++) {
    let body = Buffer.from(o.request);
    for (let e = r.int(1, 3); e > 0; e--) {
      const at = r.int(0, body.length - 1);
      body = r.pick([
        () => { body[at] = r.int(0, 255); return body; },
        () => Buffer.concat([body.subarray(0, at), Buffer.from([r.pick(o.inserted)]), body.subarray(at)]),
        () => Buffer.concat([body.subarray(0, at), body.subarray(at + 1)]),
      ])();
    }
    let records: number | undefined;
    try {
      records = o.decoded(body);
    } catch {
      records = undefined;
    }
    const scanned = refusal(() => o.scan(body, limits(1e6, 1e6)));
    if (records === undefined) continue;
    if (records > 0) expect(refusal(() => o.scan(body, limits(1e6, records - 1))), body.toString('hex')).toBeDefined();
    if (scanned === undefined) bothAccepted++;
  }
  // The fuzz reaches bodies both accept, not only ones both refuse.
  expect(bothAccepted).toBeGreaterThan(100);
}

describe('the protobuf scan before protobufjs', () => {
  it('passes a request using every field, and stops one span or one field past the limit', () => {
    expect(refusal(() => scan(REQUEST, limits(1e6, 4)))).toBeUndefined();
    expect(refusal(() => scan(REQUEST, limits(1e6, 3)))).toMatchObject({ status: 413, code: 'too_many_spans', message: 'resourceSpans[1].scopeSpans[1].spans[0]: more than 3 spans in one request (SETTING)' });
    // { resource_spans { scope_spans { spans { trace_id, span_id, attributes { key, value { string_value } } } } } }: 9 fields.
    const small = Buffer.from(traces.encode(traces.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 1), attributes: [attribute('k', { stringValue: 'v' })] }] }] }] })).finish());
    expect(refusal(() => scan(small, limits(9, 10)))).toBeUndefined();
    expect(refusal(() => scan(small, limits(8, 10)))).toMatchObject({ status: 413, code: 'too_many_values' });
  });

  it('counts at least every span protobufjs would build, whatever the bytes (mutation fuzz)', () => {
    expectCountsUnderMutation({ seed: 11, runs: 4000, request: REQUEST, inserted: [0x12, 0x0a, 0x4a, 0x00, 0x80, 0xff, 0x1b, 0x0c], decoded: spansDecoded, scan });
  });

  it('refuses what protobufjs refuses too, and what would hide fields from the count', () => {
    const malformed = (bytes: number[]) => refusal(() => scan(Buffer.from(bytes), limits(1e6, 1e6)));
    expect(malformed([0x0a, 0x05, 0x12, 0x00])).toMatchObject({ status: 400, message: expect.stringMatching(/^body is not a protobuf ExportTraceServiceRequest: a field runs 3 byte\(s\) past its message/) });
    expect(malformed([0x00, 0x00])).toMatchObject({ status: 400, message: expect.stringMatching(/field number 0/) });
    expect(malformed([0x0b, 0x0c])).toMatchObject({ status: 400, message: expect.stringMatching(/wire type 3/) });
    expect(malformed([0x08, ...Array(10).fill(0xff), 0x01])).toMatchObject({ status: 400, message: expect.stringMatching(/invalid varint/) });
    expect(malformed([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])).toMatchObject({ status: 400, message: expect.stringMatching(/invalid length encoding/) });
    // A known field under another wire type is an unknown field to protobufjs: skipped, never walked.
    expect(refusal(() => scan(Buffer.from([0x08, 0x05]), limits(1, 0)))).toBeUndefined();
  });

  it('names the string field holding invalid UTF-8, and where nesting goes too deep', () => {
    const withName = Buffer.from(traces.encode(traces.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [span(1), { ...span(2), name: 'XX' }] }] }] })).finish());
    withName.set([0xc3, 0x28], withName.lastIndexOf(Buffer.from('XX')));
    expect(refusal(() => scan(withName, limits(1e6, 1e6)))).toMatchObject({ status: 400, code: 'invalid_utf8', message: 'resourceSpans[0].scopeSpans[0].spans[1].name: not valid UTF-8' });
    expect(() => traces.decode(withName)).toThrow(); // protobufjs agrees, without naming the field

    let value: Record<string, unknown> = { stringValue: 'x' };
    for (let i = 0; i < 40; i++) value = { arrayValue: { values: [value] } };
    const deep = Buffer.from(traces.encode(traces.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ ...span(1), attributes: [attribute('deep', value)] }] }] }] })).finish());
    expect(refusal(() => scan(deep, limits(1e6, 1e6)))).toMatchObject({ status: 400, code: 'too_deep', message: expect.stringMatching(/^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.value\.arrayValue\.values\[0\]/) });
  });

  it('builds its rules from the vendored schema, and says so when a message has a field it cannot follow', () => {
    const root = protobuf.parse('syntax = "proto3"; message R { repeated S s = 1; } message S { map<string, int32> n = 1; }').root;
    expect(() => protobufScanner(root.lookupType('R'), [root.lookupType('S')])).toThrow(/cannot follow S\.n/);
  });
});

describe('the protobuf scan of a metrics export', () => {
  const request = otlpTypes.metrics.request;
  const pointTypes = ['NumberDataPoint', 'HistogramDataPoint', 'ExponentialHistogramDataPoint', 'SummaryDataPoint'].map((n) => request.root.lookupType(`opentelemetry.proto.metrics.v1.${n}`));
  const scanMetrics = protobufScanner(request, pointTypes);
  const encode = (object: Record<string, unknown>) => Buffer.from(request.encode(request.fromObject(object)).finish());
  const METRICS = encode({
    resourceMetrics: [{ scopeMetrics: [{ metrics: [
      { name: 'g', gauge: { dataPoints: [{ asDouble: 1 }, { asInt: 2 }] } },
      { name: 'h', histogram: { dataPoints: [{ count: 3, bucketCounts: [1, 2, 0], explicitBounds: [0.5, 1], exemplars: [{ asInt: 1, spanId: Buffer.alloc(8, 1) }] }] } },
      { name: 'e', exponentialHistogram: { dataPoints: [{ count: 3, positive: { offset: -1, bucketCounts: [1, 200, 70000] } }] } },
      { name: 's', summary: { dataPoints: [{ count: 1, quantileValues: [{ quantile: 0.5, value: 1 }] }] } },
    ] }] }],
  });

  it('counts the data points of every kind, and every element of a packed field as a value', () => {
    expect(refusal(() => scanMetrics(METRICS, limits(1e6, 5)))).toBeUndefined();
    expect(refusal(() => scanMetrics(METRICS, limits(1e6, 4)))).toMatchObject({ status: 413, message: 'resourceMetrics[0].scopeMetrics[0].metrics[3].summary.dataPoints[0]: more than 4 spans in one request (SETTING)' });
    // Six fields down to the packed fixed64 bucket_counts, then its three elements.
    const buckets = encode({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ histogram: { dataPoints: [{ bucketCounts: [1, 2, 3] }] } }] }] }] });
    expect(refusal(() => scanMetrics(buckets, limits(9, 10)))).toBeUndefined();
    expect(refusal(() => scanMetrics(buckets, limits(8, 10)))).toMatchObject({ status: 413, message: expect.stringMatching(/^resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.histogram\.dataPoints\[0\]\.bucketCounts: more than 8 values/) });
    // Seven fields down to the packed varint bucket_counts of an exponential histogram, then three elements of 1, 2 and 3 bytes.
    const varints = encode({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ exponentialHistogram: { dataPoints: [{ positive: { bucketCounts: [1, 200, 70000] } }] } }] }] }] });
    expect(refusal(() => scanMetrics(varints, limits(10, 10)))).toBeUndefined();
    expect(refusal(() => scanMetrics(varints, limits(9, 10)))).toMatchObject({ status: 413, message: expect.stringMatching(/^resourceMetrics.*\.positive\.bucketCoun.*: more than 9 values/) });
  });

  it('refuses a packed field protobufjs refuses, and takes an unpacked one', () => {
    // HistogramDataPoint.bucket_counts (field 6, fixed64) packed in 12 bytes: not whole 8-byte values.
    const point = Buffer.from([0x32, 12, ...Array(12).fill(1)]);
    const body = Buffer.concat([Buffer.from([0x0a, point.length + 8, 0x12, point.length + 6, 0x12, point.length + 4, 0x4a, point.length + 2, 0x0a, point.length]), point]);
    expect(refusal(() => scanMetrics(body, limits(1e6, 1e6)))).toMatchObject({ status: 400, message: expect.stringMatching(/^body is not a protobuf ExportMetricsServiceRequest: a packed field of 12 bytes/) });
    expect(() => request.decode(body)).toThrow();
    const unpacked = Buffer.from([0x31, ...Array(8).fill(0), 0x31, ...Array(8).fill(0)]);
    const ok = Buffer.concat([Buffer.from([0x0a, unpacked.length + 8, 0x12, unpacked.length + 6, 0x12, unpacked.length + 4, 0x4a, unpacked.length + 2, 0x0a, unpacked.length]), unpacked]);
    expect(refusal(() => scanMetrics(ok, limits(1e6, 1e6)))).toBeUndefined();
    expect((request.toObject(request.decode(ok), { longs: Number }) as any).resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0].bucketCounts).toEqual([0, 0]);
  });

  it('counts at least every data point protobufjs would build, whatever the bytes (mutation fuzz)', () => {
    const decoded = (body: Buffer) => (request.toObject(request.decode(body)) as any).resourceMetrics.flatMap((rm: any) => rm.scopeMetrics ?? [])
      .flatMap((sm: any) => sm.metrics ?? []).flatMap((m: any) => Object.values(m).flatMap((d: any) => d?.dataPoints ?? [])).length;
    expectCountsUnderMutation({ seed: 12, runs: 3000, request: METRICS, inserted: [0x12, 0x0a, 0x2a, 0x32, 0x00, 0x80, 0xff, 0x31], decoded, scan: scanMetrics });
  });
});
