import { LIMITS } from './schema.js';

/**
 * The stored JSON of an event's attributes. Events in a row mostly carry the same attributes (one
 * agent's batch, one prompt's log records), and `JSON.stringify` was most of `normalise`'s time
 * (docs/benchmarks.md, "Main thread after decoding, session 15"), so the last attributes' keys,
 * values and JSON are kept: the same keys in the same order with equal values stringify the same
 * (values are strings, finite numbers or booleans; 0 and -0 both give `0`).
 */
const lastKeys: string[] = [];
const lastValues: unknown[] = [];
let lastJson = '';

export function attributesJson(attributes: Readonly<Record<string, string | number | boolean>>): string {
  let i = 0;
  for (const key in attributes) {
    if (key !== lastKeys[i] || attributes[key] !== lastValues[i]) return remember(attributes);
    i++;
  }
  return i === lastKeys.length && i > 0 ? lastJson : remember(attributes);
}

function remember(attributes: Readonly<Record<string, string | number | boolean>>): string {
  lastKeys.length = 0;
  lastValues.length = 0;
  for (const key in attributes) {
    const value = attributes[key];
    lastKeys.push(key);
    // A value as long as the limit may be cut from a far longer string (OTLP mapping), which it
    // would keep alive while it is kept here; NaN equals nothing, so such attributes are never reused.
    lastValues.push(typeof value === 'string' && value.length >= LIMITS.attributeValueLength ? NaN : value);
  }
  lastJson = JSON.stringify(attributes);
  return lastJson;
}
