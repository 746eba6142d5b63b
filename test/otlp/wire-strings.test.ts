import { expect, it } from 'vitest';
import { wholeKeyValue } from '../../collector/otlp/any-value-reader.js';
import { Wire } from '../../collector/otlp/protobuf-reader.js';
import type { AnyValue } from '../../collector/otlp/common.js';
import { CheckedWire, LeftToScan } from '../../collector/otlp/checked-wire.js';

/** A KeyValue with a string value, as protobuf bytes (field 1 the key, field 2 an AnyValue with string_value). */
function keyValue(key: string, value: string): Buffer {
  const k = Buffer.from(key, 'utf8');
  const v = Buffer.from(value, 'utf8');
  const any = Buffer.concat([Buffer.from([0x0a, v.length]), v]);
  return Buffer.concat([Buffer.from([0x0a, k.length]), k, Buffer.from([0x12, any.length]), any]);
}

function read(key: string): string {
  const bytes = keyValue(key, 'v');
  const into = new Map<string, AnyValue>();
  expect(wholeKeyValue(new Wire(bytes), bytes.length, into)).toBeUndefined();
  return [...into.keys()][0]!;
}

it('reads each recurring key as its own bytes, whichever key was read before it', () => {
  // Same length and the same first, middle and last bytes: the same slot of the reader's string cache.
  // Three at a time in one slot, read in turn: each pair of slots holds two.
  const keys = [
    'abcde', 'abcxe', 'abcde', 'abcye', 'abcxe', 'abcde', 'abcye', 'clé', 'cle', 'clé', 'x'.repeat(65), 'x'.repeat(64), 'x'.repeat(64),
    'abcdefghi', 'abcdexghi', 'abcdefghi', 'abcdexghi', 'a\u00e9b', 'a\u00e8b', 'a\ud83d\ude00',
  ];
  for (const key of keys) expect(read(key)).toBe(key);
});

function readValue(wire: Wire, bytes: Buffer): AnyValue | undefined {
  const into = new Map<string, AnyValue>();
  expect(wholeKeyValue(wire, bytes.length, into)).toBeUndefined();
  return into.get('k');
}

it('reads each recurring value as its own bytes, whichever value was read before it', () => {
  // As the keys above, in the values' own slots; and a key read between them pushes none out.
  const values = [
    'abcde', 'abcxe', 'abcde', 'abcye', 'abcxe', 'abcde', 'clé', 'cle', 'clé', 'x'.repeat(65), 'x'.repeat(64), 'x'.repeat(64), '',
    '2026-12-06T14:53:11.123Z', '2026-12-06T14:54:11.123Z', 'a\u00e9b', 'a\u00e8b', 'a\ud83d\ude00', 'abcde', '\u00e9'.repeat(40), 'abcdefgh\u00e9',
  ];
  for (const value of values) {
    expect(read('abcze')).toBe('abcze');
    const bytes = keyValue('k', value);
    expect(readValue(new Wire(bytes), bytes)).toBe(value);
    expect(readValue(new CheckedWire(bytes, 0, Infinity), bytes)).toBe(value);
  }
});

it('checks the UTF-8 of a key or a value whose bytes differ from a known ASCII one in one byte', () => {
  // Same length and the same first, middle and last bytes as `abcdef`, read just before: its slot;
  // the byte that differs is past the first four, which are compared at once.
  for (const make of [(text: string) => keyValue('k', text), (text: string) => keyValue(text, 'v')]) {
    const good = make('abcdef');
    expect(() => wholeKeyValue(new CheckedWire(good, 0, Infinity), good.length, new Map())).not.toThrow();
    const bytes = make('abcdXf');
    bytes[bytes.indexOf('abcdXf') + 4] = 0xff;
    expect(() => wholeKeyValue(new CheckedWire(bytes, 0, Infinity), bytes.length, new Map())).toThrow(LeftToScan);
  }
});

it('keeps no string decoded from bytes that are not UTF-8, so the checked reader never takes one unchecked', () => {
  // `abc\xff` decodes to as many UTF-16 units as it has bytes (the last as U+FFFD): read first by
  // the plain reader, then by the checked one, whose UTF-8 check it must still meet.
  for (const make of [(text: string) => keyValue('k', text), (text: string) => keyValue(text, 'v')]) {
    const bytes = make('abcZ');
    bytes[bytes.indexOf('abcZ') + 3] = 0xff;
    wholeKeyValue(new Wire(bytes), bytes.length, new Map());
    expect(() => wholeKeyValue(new CheckedWire(bytes, 0, Infinity), bytes.length, new Map())).toThrow(LeftToScan);
  }
});
