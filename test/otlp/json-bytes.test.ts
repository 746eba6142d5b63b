import { describe, expect, it } from 'vitest';
import { JsonBytes } from '../../collector/otlp/json-bytes.js';

describe('JsonBytes.integer', () => {
  it('writes the digits String() writes, safe or not', () => {
    const values = [
      0n, 1n, -1n, 9n, 10n, -10n, 99n, 100n, 1234567890n, -987654321n,
      2n ** 53n - 1n, -(2n ** 53n - 1n), 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n,
      ...Array.from({ length: 200 }, (_, i) => BigInt(Math.floor(Math.sin(i + 1) * 10 ** (i % 17)))),
    ];
    const json = new JsonBytes();
    for (const value of values) {
      json.reset();
      json.text('[');
      json.integer(value);
      json.text(']');
      expect(json.bytes().toString()).toBe(`[${value}]`);
    }
  });
});

describe('JsonBytes.copyLast', () => {
  it('copies from the content written before, also after the buffer grew for the current one or the last', () => {
    const json = new JsonBytes();
    json.reset();
    const first = json.content;
    json.text('["kept",');
    json.quoted('é"\n');
    json.reset();
    expect(json.isLast(first)).toBe(true);
    // Larger than the buffer's half (16 KiB): the buffer grows with the last content in it.
    const long = 'y'.repeat(40_000);
    json.quoted(long);
    expect(json.isLast(first)).toBe(true);
    json.copyLast(0, 8);
    json.copyLast(8, 16);
    expect(json.bytes().toString()).toBe(`"${long}"["kept","é\\"\\n"`);
    const second = json.content;
    json.reset();
    expect([json.isLast(first), json.isLast(second)]).toEqual([false, true]);
    json.copyLast(40_002, 40_010);
    json.copyLast(0, 40_002);
    expect(json.bytes().toString()).toBe(`["kept","${long}"`);
  });

  it('keeps no content past a large one', () => {
    const json = new JsonBytes();
    json.reset();
    json.text('x'.repeat(2 * 1024 * 1024));
    const large = json.content;
    json.reset();
    expect(json.isLast(large)).toBe(false);
    json.text('small');
    const small = json.content;
    json.reset();
    expect(json.isLast(small)).toBe(true);
    json.copyLast(0, 5);
    expect(json.bytes().toString()).toBe('small');
  });
});
