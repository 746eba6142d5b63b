import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { MAX_NESTING, type CountLimit } from '../../collector/decode-limits.js';
import { cutJson, parseJson, type JsonLimits } from '../../collector/json.js';
import { firstInvalidUtf8 } from '../../collector/json-scan.js';
import { rng } from '../support/random.js';
import { refusal } from '../support/refusal.js';

const count = (limit: number, noun = 'values'): CountLimit => ({ limit, code: `too_many_${noun}`, noun, setting: 'SETTING' });
const roomy: JsonLimits = { values: count(1e9) };

/** How many values JSON.parse builds for a document: what the scan must count. */
function valuesIn(value: unknown): number {
  if (Array.isArray(value)) return 1 + value.reduce<number>((sum, v) => sum + valuesIn(v), 0);
  if (value !== null && typeof value === 'object') return 1 + Object.values(value).reduce<number>((sum, v) => sum + valuesIn(v), 0);
  return 1;
}

/** Random JSON-like text: mostly valid documents, some broken by one edit. */
function randomText(r: ReturnType<typeof rng>): string {
  const value = (depth: number): string => {
    const kind = r.int(0, depth > 4 ? 3 : 6);
    if (kind === 0) return r.pick(['0', '-1', '1.5e3', '12345678901234567890', 'true', 'false', 'null', '-0.0']);
    if (kind <= 3) return JSON.stringify(r.pick(['', 'a', 'é😀', 'quote " and \\ back', '\u0000\n', '}]', 'spans']));
    if (kind <= 4) return `[${Array.from({ length: r.int(0, 4) }, () => value(depth + 1)).join(r.pick([',', ' , ', ',\n']))}]`;
    // Distinct names: JSON.parse keeps only the last of a repeated one, the scan counts both (below).
    const names = [...new Set(Array.from({ length: r.int(0, 4) }, () => r.pick(['a', 'spans', 'events', '__proto__', 'k"ey', 'b'])))];
    const members = names.map((name) => `${JSON.stringify(name)}:${value(depth + 1)}`);
    return `{${members.join(r.pick([',', ', ']))}}`;
  };
  const text = r.pick([' ', '', '\t']) + value(0) + r.pick([' ', '', '\n']);
  if (r.next() < 0.7) return text;
  const at = r.int(0, text.length);
  return r.pick([
    () => text.slice(0, at),
    () => text.slice(0, at) + r.pick([',', ']', '}', '"', ':', 'x', '\\']) + text.slice(at),
    () => text.slice(0, at) + text.slice(at + 1),
  ])();
}

/** What `run` returns, or how it refuses. */
function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (error) {
    return { refusal: refusal(() => { throw error; }) };
  }
}

describe('the JSON scan before JSON.parse', () => {
  it('accepts exactly what JSON.parse accepts, returns the same value and counts every value JSON.parse builds', () => {
    const r = rng(17);
    for (let i = 0; i < 3000; i++) {
      const body = Buffer.from(randomText(r));
      const text = body.toString(); // an edit may have split a surrogate pair, which the bytes hold as U+FFFD
      let expected: unknown;
      try {
        expected = JSON.parse(text);
      } catch {
        expect(refusal(() => parseJson(body, roomy)), text).toMatchObject({ status: 400, code: 'bad_json' });
        continue;
      }
      expect(parseJson(body, roomy), text).toEqual(expected);
      const values = valuesIn(expected);
      expect(refusal(() => parseJson(body, { values: count(values) })), text).toBeUndefined();
      expect(refusal(() => parseJson(body, { values: count(values - 1) })), text).toMatchObject({ status: 413, code: 'too_many_values' });
    }
  });

  it('counts the values of a repeated member name too, which JSON.parse builds and then drops', () => {
    expect(refusal(() => parseJson(Buffer.from('{"a":[1,2],"a":3}'), { values: count(4) }))).toMatchObject({ status: 413 });
    expect(refusal(() => parseJson(Buffer.from('{"a":[1,2],"a":3}'), { values: count(5) }))).toBeUndefined();
  });

  it('counts the elements of the named array at its depth, whatever escapes spell its name', () => {
    const events = { keys: ['events'], depth: 1, count: count(3, 'events') };
    const batch = (n: number, key = 'events') => Buffer.from(`{"${key}":[${Array(n).fill('{"events":[1,2,3,4]}').join(',')}]}`);
    expect(refusal(() => parseJson(batch(3), { values: count(1e6), counted: events }))).toBeUndefined();
    expect(refusal(() => parseJson(batch(4), { values: count(1e6), counted: events }))).toMatchObject({ status: 413, code: 'too_many_events', message: 'events[3]: more than 3 events in one request (SETTING)' });
    expect(refusal(() => parseJson(batch(4, 'ev\\u0065nts'), { values: count(1e6), counted: events }))).toMatchObject({ status: 413 });
    // Deeper arrays of the same name are not the batch.
    expect(refusal(() => parseJson(Buffer.from('{"x":{"events":[1,2,3,4,5]}}'), { values: count(1e6), counted: events }))).toBeUndefined();
  });

  it(`allows ${MAX_NESTING} levels of nesting and refuses one more, naming where`, () => {
    const nested = (levels: number) => Buffer.from('{"a":'.repeat(levels - 1) + '[]' + '}'.repeat(levels - 1));
    expect(refusal(() => parseJson(nested(MAX_NESTING), roomy))).toBeUndefined();
    expect(refusal(() => parseJson(nested(MAX_NESTING + 1), roomy))).toMatchObject({ status: 400, code: 'too_deep', message: expect.stringMatching(/^a\.a\.a.*: nested more than 64 levels deep$/) });
    expect(refusal(() => parseJson(Buffer.from('['.repeat(100_000)), roomy))).toMatchObject({ code: 'too_deep' });
  });

  it('gives integers beyond 2^53 back as their digits when asked, leaving every other number alone', () => {
    const body = Buffer.from('{"a":1793700000123456789,"b":[-9007199254740993,9007199254740991,1.5e300,123456789012345678.5,"9007199254740993"]}');
    expect(parseJson(body, { ...roomy, exactIntegers: true })).toEqual({ a: '1793700000123456789', b: ['-9007199254740993', 9007199254740991, 1.5e300, 123456789012345678.5, '9007199254740993'] });
    expect((parseJson(body, roomy) as { a: unknown }).a).toBe(1793700000123456789);
  });

  it('names the field of invalid UTF-8, cutting a long member name', () => {
    const bad = Buffer.from([0xe2, 0x28, 0xa1]);
    const at = (before: string, after: string) => refusal(() => parseJson(Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]), roomy));
    expect(at('{"events":[{"model":"x', '"}]}')).toMatchObject({ status: 400, code: 'invalid_utf8', message: 'events[0].model: not valid UTF-8' });
    expect(at('{"events":[{"attributes":{"', '":1}}]}')).toMatchObject({ message: 'events[0].attributes: a member name is not valid UTF-8' });
    expect(at(`{"${'k'.repeat(5000)}":"`, '"}')).toMatchObject({ message: `${'k'.repeat(100)}…: not valid UTF-8` });
    expect(at('{"a":1', '}')).toMatchObject({ status: 400, code: 'bad_json' });
  });

  it('notes the first place each element goes over its own limits, and parses the others as JSON.parse does', () => {
    const events = { keys: ['events'], depth: 1, count: count(10, 'events'), each: { values: 4, stringBytes: 6 } };
    const body = Buffer.from(JSON.stringify({ events: [
      { a: 'abcdef', b: [1, 2] }, // 5 values
      { a: 'abcdefg' }, // a string of 7 bytes
      { 'seven!!': 1 }, // a member name of 7 bytes
      { a: '\\"é' }, // 6 bytes between the quotes: \\, \", é
      [[1, 'abcdefghij'], 2], // both over: the first met is named
      'abcdef',
    ] }));
    const cut = cutJson(body, { values: count(1e6), counted: events });
    expect(cut.outline).toEqual({ events: [0, 1, 2, 3, 4, 5] });
    expect([0, 1, 2, 3, 4, 5].map((n) => cut.problem(n))).toEqual([
      { path: 'events[0].b[1]', over: 'values' },
      { path: 'events[1].a', over: 'stringBytes' },
      { path: 'events[2].seven!!', over: 'stringBytes' },
      undefined,
      { path: 'events[4][0][1]', over: 'stringBytes' },
      undefined,
    ]);
    expect(cut.element(3, 'events[3]')).toEqual({ a: '\\"é' });
    expect(cut.element(5, 'events[5]')).toBe('abcdef');
  });

  it('reads a string field longer than the rule allows as the placeholder, noting where, by the UTF-8 it decodes to', () => {
    const rule = () => ({ bytes: 8, fields: new Set(['s']), placeholder: '?', found: [] as string[] });
    // Two escaped surrogate pairs: 24 bytes as written, 8 bytes of UTF-8; then a lone surrogate (3 bytes).
    const cases: [string, unknown][] = [
      ['"\\ud83d\\ude00\\ud83d\\ude00"', '😀😀'],
      ['"\\ud83d\\ude00\\ud83d\\ude00x"', '?'],
      ['"\\u00e9\\u00e9\\u00e9\\u00e9"', 'éééé'],
      ['"\\u00e9\\u00e9\\u00e9\\u00e9\\n"', '?'],
      ['"\\ud800\\ud800x"', '\ud800\ud800x'],
      ['"\\ud800\\ud800xyz"', '?'],
      ['"123456789"', '?'],
    ];
    for (const [text, expected] of cases) {
      const long = rule();
      expect(parseJson(Buffer.from(`{"a":[{"s":${text},"t":${text}}]}`), { ...roomy, long }), text).toEqual({ a: [{ s: expected, t: JSON.parse(text) }] });
      expect(long.found, text).toEqual(expected === '?' ? ['a[0].s'] : []);
    }
  });

  it('parses elements read in order a run at a time, each as parsing it alone would, and still names the one that is not JSON', () => {
    const r = rng(5);
    const counted = { keys: ['events'], depth: 3, count: count(1000, 'events'), each: { values: 6, stringBytes: 20 } };
    let read = 0;
    for (let i = 0; i < 100; i++) {
      // Elements in several arrays (inside others, as OTLP's records sit), some over their limits, some not JSON.
      const element = () => r.pick(['{"a":1}', '{"a":[1,2,3,4,5,6]}', '"abc"', '[true,null]', '{"a":"x"}', '-1.5e3', '"12345678901234567890123"', 'tru', '01', '{"a":"\\x"}']);
      const arrays = Array.from({ length: r.int(1, 3) }, () => `{"events":[${Array.from({ length: r.int(0, 150) }, element).join(r.pick([',', ' , ', ',\n']))}]}`);
      const body = Buffer.from(`{"x":[${arrays.join(',')}]}`);
      let cut: ReturnType<typeof cutJson>;
      try {
        cut = cutJson(body, { values: count(1e6), counted });
      } catch {
        continue;
      }
      const numbers = (cut.outline as { x: { events: number[] }[] }).x.flatMap((a) => a.events);
      const order = r.next() < 0.8 ? numbers : [...numbers].sort(() => r.next() - 0.5);
      const fresh = () => cutJson(body, { values: count(1e6), counted });
      for (const n of order) {
        if (cut.problem(n)) continue;
        expect(outcome(() => cut.element(n, `e${n}`)), `${body} ${n}`).toEqual(outcome(() => fresh().element(n, `e${n}`)));
        read++;
      }
    }
    expect(read).toBeGreaterThan(3_000);
  });

  it('hands each element out once from a run: reading it again parses it again', () => {
    const cut = cutJson(Buffer.from('{"events":[{"a":1},{"a":2},{"a":3}]}'), { values: count(1e6), counted: { keys: ['events'], depth: 1, count: count(10, 'events') } });
    const first = cut.element(0, 'events[0]') as { a: number };
    first.a = 9;
    expect([cut.element(1, 'events[1]'), cut.element(0, 'events[0]'), cut.element(1, 'events[1]'), cut.element(2, 'events[2]')]).toEqual([{ a: 2 }, { a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('takes the root value as the one element at depth 0', () => {
    const whole = (each: { values: number; stringBytes: number }) => ({ values: count(1e6), counted: { keys: [], depth: 0, count: count(1, 'events'), each } });
    const body = Buffer.from(' {"a":"abcdefg","b":[1,2]} ');
    const roomyCut = cutJson(body, whole({ values: 10, stringBytes: 10 }));
    expect([roomyCut.outline, roomyCut.problem(0), roomyCut.element(0, '')]).toEqual([0, undefined, { a: 'abcdefg', b: [1, 2] }]);
    expect(cutJson(body, whole({ values: 10, stringBytes: 6 })).problem(0)).toEqual({ path: 'a', over: 'stringBytes' });
    expect(cutJson(body, whole({ values: 4, stringBytes: 10 })).problem(0)).toEqual({ path: 'b[1]', over: 'values' });
  });

  it('quotes at most the start of a member name of megabytes in a path', () => {
    const name = `${'é'.repeat(60)}${'k'.repeat(4 * 1024 * 1024)}`;
    const cut = cutJson(Buffer.from(`{"events":[{"${name}":"${'x'.repeat(100)}"}]}`), { values: count(1e6), counted: { keys: ['events'], depth: 1, count: count(10, 'events'), each: { values: 10, stringBytes: 50 } } });
    expect(cut.problem(0)).toEqual({ path: `events[0].${name.slice(0, 100)}…`, over: 'stringBytes' });
  });

  it('finds the first byte that is not UTF-8 exactly where Node finds the body invalid', () => {
    const r = rng(3);
    const pieces = [[0x61], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xff], [0xe2, 0x82]];
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(Array.from({ length: r.int(0, 6) }, () => r.pick(pieces)).flat());
      const offset = firstInvalidUtf8(bytes);
      expect(offset < 0, bytes.toString('hex')).toBe(isUtf8(bytes));
      if (offset >= 0) expect(isUtf8(bytes.subarray(0, offset)), bytes.toString('hex')).toBe(true);
    }
  });
});
