import { loadConfig } from '../src/config.js';
import { LIMITS } from '../src/event/schema.js';
import { makeEvents, type BenchEvent } from './events.js';

/** A field of `length` characters that differs per event but compresses, so a batch of them fits MAX_BODY_BYTES gzipped. */
function filler(n: number, field: number, length: number): string {
  const seed = `${field}-${n.toString(36)}-`;
  return seed.repeat(Math.ceil(length / seed.length)).slice(0, length);
}

/** An event grown to about `bytes` of JSON with the longest dimensions the limits allow, then attributes. */
function large(event: BenchEvent, n: number, bytes: number): BenchEvent {
  const long = { ...event };
  for (const [i, key] of (['agent_id', 'task_label', 'run_id', 'step_id', 'session_id', 'user_id'] as const).entries()) {
    long[key] = filler(n, i, LIMITS.dimensionLength);
  }
  const attributes: Record<string, string> = {};
  for (let a = 0; JSON.stringify(long).length + 16 + LIMITS.attributeValueLength <= bytes && a < LIMITS.attributeCount; a++) {
    attributes[`attr-${a}`] = filler(n, 100 + a, LIMITS.attributeValueLength);
    long.attributes = attributes;
  }
  return long;
}

/**
 * The largest native batch the default limits take: MAX_EVENTS_PER_REQUEST events, each of its
 * share of MAX_DECODED_BODY_BYTES (about 5 KB: long dimensions and attributes), ids `prefix-n`.
 */
export function largestBatch(prefix: string): BenchEvent[] {
  const { MAX_EVENTS_PER_REQUEST: events, MAX_DECODED_BODY_BYTES: bytes } = loadConfig({});
  // Less room for the envelope.
  const perEvent = Math.floor((bytes - 1024) / events);
  return makeEvents(0, events, prefix).map((event, n) => large(event, n, perEvent));
}
