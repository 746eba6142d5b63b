import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { attributesJson } from '../../src/event/attributes-json.js';
import { LIMITS } from '../../src/event/schema.js';
import { rng } from '../support/random.js';

type Attributes = Record<string, string | number | boolean>;

/** Values that look alike and stringify apart (or alike: 0 and -0). */
const VALUES: (string | number | boolean)[] = ['1', 1, 1.5, true, 'true', false, 0, -0, '', 'a"b', 'é', '\u2028', 'eu-west-1', 1e21];
const KEYS = ['region', 'framework', 'Region', '1', '2', 'a"b', 'é', '__proto__x', ''];

describe('attributesJson', () => {
  it('is JSON.stringify of each of a run of attributes that repeat, reorder, grow, shrink and change type', () => {
    const r = rng(15);
    let previous: Attributes = {};
    for (let n = 0; n < 5_000; n++) {
      const roll = r.next();
      let attributes: Attributes;
      if (roll < 0.4) attributes = JSON.parse(JSON.stringify(previous)) as Attributes; // the same again, a new object
      else if (roll < 0.55) attributes = Object.fromEntries(Object.entries(previous).reverse());
      else if (roll < 0.7) attributes = { ...previous, [r.pick(KEYS)]: r.pick(VALUES) };
      else if (roll < 0.8) attributes = Object.fromEntries(Object.entries(previous).slice(0, -1));
      else attributes = Object.fromEntries(r.subset(KEYS).map((key) => [key, r.pick(VALUES)]));
      expect(attributesJson(attributes)).toBe(JSON.stringify(attributes));
      previous = attributes;
    }
  });

  it('tells apart a value of another type and a key that follows the last one', () => {
    expect(attributesJson({ a: 1 })).toBe('{"a":1}');
    expect(attributesJson({ a: '1' })).toBe('{"a":"1"}');
    expect(attributesJson({ a: '1', b: true })).toBe('{"a":"1","b":true}');
    expect(attributesJson({ a: '1' })).toBe('{"a":"1"}');
    expect(attributesJson({})).toBe('{}');
    expect(attributesJson({})).toBe('{}');
    expect(attributesJson({ 2: 'x', 1: 'y' })).toBe('{"1":"y","2":"x"}');
  });

  it('keeps no value cut from a longer string, which would keep that string alive', () => {
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const heapAfter = (use: () => void) => {
      use();
      collectGarbage();
      collectGarbage();
      return getHeapStatistics().used_heap_size;
    };
    const before = heapAfter(() => attributesJson({ a: 1 }));
    const after = heapAfter(() => {
      // As OTLP mapping cuts a long value: V8 makes the cut a slice that points into the whole.
      const whole = `${Math.random()}`.padEnd(32 * 1024 * 1024, 'x');
      expect(attributesJson({ prompt: whole.slice(0, LIMITS.attributeValueLength) })).toBe(JSON.stringify({ prompt: whole.slice(0, LIMITS.attributeValueLength) }));
    });
    expect(after - before).toBeLessThan(8 * 1024 * 1024);
  });
});
