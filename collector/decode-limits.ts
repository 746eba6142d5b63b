import { excerpt } from '../src/excerpt.js';
import { ApiError } from '../src/http/errors.js';

/**
 * The limits both body scanners (JSON, OTLP protobuf) apply while they walk a body, before
 * anything is built from it: work and memory then follow the limits, not what a small
 * compressed body can expand to.
 */

/** JSON objects and arrays, or protobuf messages, inside each other. */
export const MAX_NESTING = 64;

/** A count the scanners stop at: the request is refused when it goes beyond `limit`. */
export interface CountLimit {
  limit: number;
  code: string;
  /** What is counted, plural: `spans`, `log records`. */
  noun: string;
  /** The setting that sets `limit`. */
  setting: string;
}

export interface RequestLimits {
  maxValuesPerRequest: number;
  maxRecordsPerRequest: number;
  maxEventsPerRequest: number;
}

/** The counts of one request, from the settings. */
export function countLimits(limits: RequestLimits): Record<'values' | 'records' | 'events', CountLimit> {
  return {
    values: { limit: limits.maxValuesPerRequest, code: 'too_many_values', noun: 'values', setting: 'MAX_VALUES_PER_REQUEST' },
    // OTLP spans, log records and metric data points; each signal names its own in the message.
    records: { limit: limits.maxRecordsPerRequest, code: 'too_many_records', noun: 'records', setting: 'MAX_RECORDS_PER_REQUEST' },
    events: { limit: limits.maxEventsPerRequest, code: 'too_many_events', noun: 'events', setting: 'MAX_EVENTS_PER_REQUEST' },
  };
}

/** `path: ` before a message, or nothing for the body itself. The path is cut: it can hold client keys. */
const at = (path: string) => (path === '' ? '' : `${excerpt(path)}: `);

export const overCount = (path: string, count: CountLimit) =>
  new ApiError(413, count.code, `${at(path)}more than ${count.limit} ${count.noun} in one request (${count.setting})`);

export const tooDeep = (path: string) => new ApiError(400, 'too_deep', `${at(path)}nested more than ${MAX_NESTING} levels deep`);

/** `member`: the bad bytes are in a member name (JSON) rather than in the value at `path`. */
export const invalidUtf8 = (path: string, member = false) =>
  new ApiError(400, 'invalid_utf8', `${at(path)}${member ? 'a member name is not' : 'not'} valid UTF-8`);
