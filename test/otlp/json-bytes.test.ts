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
