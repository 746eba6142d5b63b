import { expect, it } from 'vitest';
import { Wire, wholeKeyValue } from '../../collector/otlp/protobuf-reader.js';
import type { AnyValue } from '../../collector/otlp/common.js';

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
