import { describe, expect, it, vi } from 'vitest';
import { contentId } from '../../collector/otlp/content-id.js';
import { logRecordsToEvents, wireLogEventSteps } from '../../collector/otlp/log-records.js';
import { ExportLogsRequest } from '../../collector/otlp/logs-request.js';
import type { MappedEvent } from '../../collector/otlp/mapping.js';
import { runNow } from '../../collector/otlp/steps.js';
import { encodeProtobuf, END_NANOS, otlpLogsRequest, type LogSpec } from '../support/otlp.js';

/**
 * The id of a log record without an id of its own (Codex's) is the record's time and a hash of the
 * record. The id of a record must not change unannounced: an exporter's retry across an upgrade
 * would count the call twice (docs/operations.md, Upgrading, says when it did). The ids below pin
 * the hash of every kind of value it tells apart.
 */

const codex = { 'service.name': 'codex_exec', 'host.arch': 'amd64', 'tags': { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } } };
const scope = { name: 'codex_otel.log_only', version: '0.171.0' };
/** Every control character, which JSON writes as an escape. */
const CONTROLS = Array.from({ length: 0x20 }, (_, c) => String.fromCharCode(c)).join('');
const call = (attributes: LogSpec['attributes'], more: Partial<LogSpec> = {}): LogSpec => ({
  attributes: {
    'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'model': 'gpt-5.1-codex', 'conversation.id': 'conv-1',
    'input_token_count': 1200, 'output_token_count': 340, ...attributes,
  },
  ...more,
});

const RECORDS: [string, LogSpec, string][] = [
  ['plain', call({}), 'log:01a1a0d9f757-251072f87e2542acc2cc3d0d698f107d'],
  ['every scalar kind, keys out of order', call({ 'zeta': true, 'alpha': 1.5, 'big': '9007199254740993', 'nan': { doubleValue: 'NaN' }, 'int': { intValue: '-7' } }), 'log:01a1a0d9f757-138167ead1ab46a6d38061d4cecb4db3'],
  ['arrays, kvlists, bytes and an empty value', call({
    'list': { arrayValue: { values: [{ boolValue: false }, { kvlistValue: { values: [{ key: 'b', value: { stringValue: 'x' } }, { key: 'a', value: {} }] } }] } },
    'raw': { bytesValue: Buffer.from([0, 1, 254, 255]).toString('base64') },
    'empty': {},
  }), 'log:01a1a0d9f757-ec4ebb09872da366d5875da884aca048'],
  ['text needing escapes, non-ASCII keys', call({ 'quote"back\\slash': 'line\nbreak\ttab\u0001', 'clé': 'é😀' }), 'log:01a1a0d9f757-97d5f113b348ce98ede4fbe8fa408289'],
  ['a body, trace context and no time', call({}, { body: { kvlistValue: { values: [{ key: 'k', value: { doubleValue: 2 } }] } }, time: '0', observed: '1793700001623456789', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', eventName: 'codex.sse_event' }), 'log:01a1a0d9f757-b91a10558d94710c14fa9241af054255'],
  ['no time at all', call({}, { time: '0', observed: '0' }), 'log:000000000000-99e983efaa642c02bd19c4abbef6d3e0'],
  ['a string body', call({}, { body: 'response.completed' }), 'log:01a1a0d9f757-ed9583669f36f7a6ff844b8fbf9811d4'],
  ['numbers of every size', call({
    'd1': 0.1, 'd2': -2.5e-7, 'd3': { doubleValue: 1e21 }, 'd4': { doubleValue: -0 }, 'd5': { doubleValue: 'Infinity' }, 'd6': { doubleValue: '-Infinity' },
    'd7': 123456789.125, 'd8': { doubleValue: 5e-324 }, 'd9': { doubleValue: 3 }, 'i1': { intValue: '9223372036854775807' }, 'i2': { intValue: '-9223372036854775808' },
    'i3': { intValue: '9007199254740991' }, 'i4': { intValue: '-9007199254740992' }, 'i5': { intValue: '0' }, 'i6': { intValue: '-1' }, 'i7': { intValue: '1000000000000' },
  }), 'log:01a1a0d9f757-b6238372590da552bc9ecd94762d168f'],
  ['every character JSON escapes, in keys, values, body and event name', call({
    [`all${CONTROLS}`]: `${CONTROLS}\u007f"\\/\u2028\u2029`, 'quote"': '"', 'back\\': '\\', 'tab\t': 'a\tb', 'del': '\u007f', 'slash/': '/',
  }, { body: `say "hi"\n\\`, eventName: 'ev"ent\n' }), 'log:01a1a0d9f757-0837cf1022322d09394a5e73c29d6510'],
  ['non-ASCII keys and values, sorted by UTF-16 code units', call({
    'é': 'ü', 'z': 'ÿþ', 'Z': '日本語', '😀': '👍🏽', '\uffee': 'half', 'ä': 'aé"😀\n', '日本': 'é'.repeat(40), 'a': 'plain',
  }, { body: { stringValue: 'ñ' } }), 'log:01a1a0d9f757-b98feb959b99d6361acd393e7ba9d2e0'],
  ['long strings', call({
    'long': `${'x'.repeat(100_000)}"é\u0001`, 'wide': 'é'.repeat(30_000), 'clean': 'y'.repeat(200_000), 'emoji': '😀'.repeat(5_000),
  }), 'log:01a1a0d9f757-3ab5d1e002ea14e8d92fb1eff0648391'],
  ['nested lists, empty ones and every kind inside them', call({
    'deep': { arrayValue: { values: [
      { arrayValue: { values: [{ kvlistValue: { values: [{ key: 'z', value: { arrayValue: { values: [{ intValue: '1' }, { doubleValue: 1 }, { stringValue: '1' }] } } }, { key: 'a', value: { boolValue: true } }] } }] } },
      { arrayValue: {} }, { kvlistValue: {} }, {}, { bytesValue: '' }, { stringValue: '' },
    ] } },
    'kv': { kvlistValue: { values: [{ key: 'é"', value: { stringValue: 'ü\n' } }, { key: 'e', value: {} }, { key: 'b', value: { kvlistValue: { values: [{ key: 'x', value: { doubleValue: 0.5 } }] } } }] } },
    'none': { arrayValue: { values: [] } },
  }), 'log:01a1a0d9f757-26fc4603fb3d009e9b2da9903aef8aba'],
  ['bytes, empty and long', call({
    'b0': { bytesValue: '' }, 'b1': { bytesValue: Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)).toString('base64') },
  }), 'log:01a1a0d9f757-462997f899881e314a263d547eb817cb'],
  ['empty values: string, AnyValue, body', call({ 'blank': '', 'unset': {} }, { body: {} }), 'log:01a1a0d9f757-71d49eba097413c88fa875db4ff0b1d0'],
  // Last: OTLP/JSON only, as protobuf strings are UTF-8, which cannot hold it.
  ['a lone surrogate', call({ 'surrogate': '\ud800x' }), 'log:01a1a0d9f757-084f43aa39a8338865ca57f8a0655f5b'],
];

function ids(events: MappedEvent[]): unknown[] {
  return events.map((e) => e.input.id);
}

describe('the hash id of a log record', () => {
  const request = otlpLogsRequest(RECORDS.map(([, spec]) => spec), { resource: codex, scope });

  it('is pinned for every kind of value', () => {
    const events = logRecordsToEvents(ExportLogsRequest.parse(request));
    expect(Object.fromEntries(RECORDS.map(([name], i) => [name, events[i]!.input.id]))).toEqual(Object.fromEntries(RECORDS.map(([name, , id]) => [name, id])));
  });

  it('is the same from OTLP/JSON and from protobuf', () => {
    const request = otlpLogsRequest(RECORDS.slice(0, -1).map(([, spec]) => spec), { resource: codex, scope });
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(ids(logRecordsToEvents(ExportLogsRequest.parse(request))));
    expect(new Set(ids(fromWire)).size).toBe(RECORDS.length - 1);
  });

  it('is the hash of the JSON of the record, however long, from either encoding', () => {
    // Longer than the buffer the content is first written in (16 KiB), with text that needs escapes after it.
    const note = `${'x'.repeat(40_000)}"é\n`;
    const attributes = { 'event.name': 'codex.sse_event', 'event.kind': 'response.completed', 'input_token_count': '1200', 'output_token_count': '340', note };
    const resource = { 'service.name': 'codex_exec', 'host.arch': 'amd64' };
    const request = otlpLogsRequest([{ attributes }, { attributes: { ...attributes, note: 'short' } }], { resource, scope });
    const sorted = (values: Record<string, string>) => Object.keys(values).sort().map((key) => [key, values[key]]);
    const expected = [note, 'short'].map((text) => contentId('log', BigInt(END_NANOS), JSON.stringify([
      sorted(resource), scope.name, scope.version, END_NANOS, END_NANOS, '', '', '', sorted({ ...attributes, note: text }), null,
    ])));
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(expected);
    expect(ids(logRecordsToEvents(ExportLogsRequest.parse(request)))).toEqual(expected);
  });

  it('does not depend on the order the attributes came in', () => {
    const reversed = (attributes: LogSpec['attributes']) => Object.fromEntries(Object.entries(attributes!).reverse());
    const pinned = RECORDS.slice(0, -1);
    const request = otlpLogsRequest(pinned.map(([, spec]) => ({ ...spec, attributes: reversed(spec.attributes) })), { resource: reversed(codex), scope });
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(pinned.map(([, , id]) => id));
    expect(ids(logRecordsToEvents(ExportLogsRequest.parse(request)))).toEqual(pinned.map(([, , id]) => id));
  });

  it('is pinned for a resource and a scope with escapes, non-ASCII and nested values', () => {
    const resource = {
      'service.name': 'codex_exec', 'ünï"code\n': 'ö"\n\u0001', 'n': 1.5, 'i': 7,
      'nested': { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [{ stringValue: '日本' }, { bytesValue: 'AAE=' }] } } }] } },
    };
    const request = otlpLogsRequest([call({}), call({ 'conversation.id': 'conv-2' })], { resource, scope: { name: 'sc"ope é', version: 'v\t1' } });
    const expected = ['log:01a1a0d9f757-886bc08ee28c460f5f993c52c2f3d4ea', 'log:01a1a0d9f757-ac85056c41362022fbf099bb072b9961'];
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(expected);
    expect(ids(logRecordsToEvents(ExportLogsRequest.parse(request)))).toEqual(expected);
  });

  it("leads with the record's time, so a later record sorts after an earlier one", () => {
    // Twenty calls a millisecond apart, the first with only an observed time; by their hashes alone they would not be in order.
    const first = BigInt(END_NANOS);
    const specs = Array.from({ length: 20 }, (_, i) =>
      call({ 'conversation.id': `conv-${i}` }, i === 0 ? { time: '0', observed: END_NANOS } : { time: String(first + BigInt(i) * 1_000_000n) }));
    const made = ids(logRecordsToEvents(ExportLogsRequest.parse(otlpLogsRequest(specs, { resource: codex, scope })))) as string[];
    const ms = first / 1_000_000n;
    expect(made.map((id) => id.slice(0, 'log:'.length + 13))).toEqual(specs.map((_, i) => `log:${(ms + BigInt(i)).toString(16).padStart(12, '0')}-`));
    expect([...made].sort()).toEqual(made);
    const hashes = made.map((id) => id.slice('log:'.length + 13));
    expect([...hashes].sort()).not.toEqual(hashes);
  });

  it('does not depend on the records and resources hashed before it', () => {
    // The keys sorted last are kept (one list for records, one for resources): each pinned record,
    // read after requests with other resources' and records' keys, in either order, keeps its id.
    // `other` has as many keys as `codex`, `small` fewer: what `other` left is what `codex` meets.
    const other = { 'service.name': 'codex_exec', 'os.type': 'linux', 'a': 'first' };
    const small = { 'service.name': 'codex_exec' };
    const pinned = RECORDS.slice(0, -1);
    const idOf = (spec: LogSpec, resource: Record<string, unknown>) => {
      const events: MappedEvent[] = [];
      runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', otlpLogsRequest([spec], { resource, scope }))), (event) => events.push(event)));
      return events[0]!.input.id;
    };
    for (const order of [pinned, [...pinned].reverse()]) {
      for (const [i, [name, spec, id]] of order.entries()) {
        idOf(order[(i + 1) % order.length]![1], small);
        idOf(order[(i + 2) % order.length]![1], other);
        expect([name, idOf(spec, codex)]).toEqual([name, id]);
      }
    }
  });

  it("is the record's own under each scope and resource of a request, whichever came before", () => {
    // The opening (resource and scope) is hashed once for the records that share it: records of
    // other scopes of the same resource, and of other resources, in between must not share it.
    const [plain, second] = [RECORDS[0]![1], call({ 'conversation.id': 'conv-2' })];
    const scopes = [scope, { ...scope, version: '0.172.0' }, { name: 'codex_otel.other', version: scope.version }];
    const alone = (spec: LogSpec, at: typeof scope, resource: Record<string, unknown>) => {
      const events: MappedEvent[] = [];
      runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', otlpLogsRequest([spec], { resource, scope: at }))), (event) => events.push(event)));
      return events[0]!.input.id;
    };
    // The second resource's scopes in the other order: its first scope is the one before it.
    const layout = [{ resource: codex, scopes }, { resource: { ...codex, 'host.arch': 'arm64' }, scopes: [...scopes].reverse() }];
    const expected = layout.flatMap(({ resource, scopes }) => scopes.flatMap((at) => [plain, second].map((spec) => alone(spec, at, resource))));
    expect(new Set(expected).size).toBe(expected.length);
    const request = {
      resourceLogs: layout.map(({ resource, scopes }) => ({
        resource: otlpLogsRequest([], { resource }).resourceLogs[0]!.resource,
        scopeLogs: scopes.map((at) => otlpLogsRequest([plain, second], { resource, scope: at }).resourceLogs[0]!.scopeLogs[0]!),
      })),
    };
    const fromWire: MappedEvent[] = [];
    runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
    expect(ids(fromWire)).toEqual(expected);
    expect(ids(logRecordsToEvents(ExportLogsRequest.parse(request)))).toEqual(expected);
  });

  describe("with values the same as the last record's at their place", () => {
    // An entry whose value is the last record's at its place (same keys) is copied from that
    // record's content: each record must still hash what it would alone. Values that look alike
    // but are written apart (5 the int, 5 the double, "5", -0 and 0, NaN), that need escapes, that
    // are not ASCII, that are too long to keep, or long enough to grow the buffer, next to plain ones.
    const POOL: unknown[] = [
      'plain', 'codex.sse_event', '', 'line\nbreak', 'quote"d', 'back\\slash', '\u007f', CONTROLS, 'é😀', '日本語', '\u2028',
      'x'.repeat(256), 'x'.repeat(257), `${'y'.repeat(20_000)}"é`, '5', { intValue: '5' }, { doubleValue: 5 }, { doubleValue: -0 },
      { doubleValue: 0 }, { intValue: '0' }, { doubleValue: 'NaN' }, true, false, {}, { bytesValue: 'AAE=' },
      { arrayValue: { values: [{ stringValue: 'a' }] } }, { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } },
    ];
    const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    /** Records whose values at each key mostly stay (a run), sometimes change; a pseudo-random walk, the same every run. */
    const walk = (count: number, seed: number): LogSpec[] => {
      let state = seed;
      const next = (n: number) => {
        state = (state * 1103515245 + 12345) & 0x7fffffff;
        return state % n;
      };
      const at = KEYS.map(() => next(POOL.length));
      return Array.from({ length: count }, (_, r) => {
        for (let k = 0; k < KEYS.length; k++) if (next(3) === 0) at[k] = next(POOL.length);
        return call(Object.fromEntries(KEYS.map((key, k) => [key, POOL[at[k]!]])) as LogSpec['attributes'], { eventName: r % 5 === 0 ? 'ev"ent' : 'event' });
      });
    };
    const alone = (spec: LogSpec) => {
      const events: MappedEvent[] = [];
      runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', otlpLogsRequest([spec], { resource: codex, scope }))), (event) => events.push(event)));
      return events[0]!.input.id;
    };

    it('hashes each record as it would alone, from either encoding', () => {
      const specs = walk(150, 7);
      const expected = specs.map(alone);
      const request = otlpLogsRequest(specs, { resource: codex, scope });
      const fromWire: MappedEvent[] = [];
      runNow(wireLogEventSteps(Buffer.from(encodeProtobuf('logs', request)), (event) => fromWire.push(event)));
      expect(ids(fromWire)).toEqual(expected);
      expect(ids(logRecordsToEvents(ExportLogsRequest.parse(request)))).toEqual(expected);
    });

    it('hashes each record as it would alone when requests are read in turns', () => {
      // Requests are read a few records a step, interleaved (steps.ts): a record may follow another
      // request's, with the same keys.
      const specs = [walk(200, 11), walk(200, 12)];
      const expected = specs.map((list) => list.map(alone));
      const got: MappedEvent[][] = [[], []];
      const steps = specs.map((list, i) => wireLogEventSteps(Buffer.from(encodeProtobuf('logs', otlpLogsRequest(list, { resource: codex, scope }))), (event) => got[i]!.push(event)));
      const done = [false, false];
      while (!done[0] || !done[1]) for (const i of [0, 1]) if (!done[i]) done[i] = steps[i]!.next().done === true;
      expect(got.map(ids)).toEqual(expected);
    });
  });

  it('is the same for a byte-identical retry, whenever it arrives', () => {
    const body = Buffer.from(encodeProtobuf('logs', otlpLogsRequest(RECORDS.slice(0, -1).map(([, spec]) => spec), { resource: codex, scope })));
    const receivedAt = (ms: number) => {
      vi.setSystemTime(ms);
      const events: MappedEvent[] = [];
      runNow(wireLogEventSteps(body, (event) => events.push(event)));
      return ids(events);
    };
    vi.useFakeTimers();
    try {
      const sent = receivedAt(Date.UTC(2026, 10, 3, 10));
      const retried = receivedAt(Date.UTC(2026, 11, 6, 1));
      expect(retried).toEqual(sent);
      expect(sent).toEqual(RECORDS.slice(0, -1).map(([, , id]) => id));
    } finally {
      vi.useRealTimers();
    }
  });
});
