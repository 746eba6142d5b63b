import { isoUtc } from '../src/time.js';
import type { Context } from 'hono';
import { badRequest } from '../src/http/errors.js';
import { localToUtc, utcToLocal, ZoneName, zoneSegments, type ZoneSegment } from '../src/zone.js';
import { DIMENSIONS, type Dimension, type Filters, type GroupKey, type Metrics, TIME_BUCKETS } from '../src/store/types.js';

/** Alternative spellings of dimension filters, matching the event's field names. */
const ALIASES: Record<string, Dimension> = {
  agent_id: 'agent', task_label: 'task', run_id: 'run', session_id: 'session', user_id: 'user',
};

/** Query values, repeated (`?model=a&model=b`) or comma-listed (`?model=a,b`). */
export function listParam(c: Context, name: string): string[] {
  return (c.req.queries(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

export function singleParam(c: Context, name: string): string | undefined {
  const values = c.req.queries(name);
  if (values && values.length > 1) throw badRequest(`${name}: give it once`);
  const value = values?.[0]?.trim();
  return value === '' ? undefined : value;
}

/** Rejects parameters the route does not know, so a misspelt filter is an error, not an unfiltered answer. */
export function rejectUnknownParams(c: Context, known: readonly string[]): void {
  const allowed = new Set([...known, ...DIMENSIONS, ...Object.keys(ALIASES)]);
  for (const name of Object.keys(c.req.queries())) {
    if (!allowed.has(name)) throw badRequest(`${name}: unknown parameter; known: ${[...allowed].join(', ')}`);
  }
}

export function parseFilters(c: Context): Filters {
  const filters: Filters = {};
  for (const dimension of DIMENSIONS) {
    const values = [...listParam(c, dimension), ...Object.entries(ALIASES).flatMap(([alias, d]) => (d === dimension ? listParam(c, alias) : []))];
    if (values.length > 0) filters[dimension] = [...new Set(values)];
  }
  return filters;
}

const GROUP_KEYS: readonly string[] = [...DIMENSIONS, ...TIME_BUCKETS];

export function parseGroupBy(c: Context, name = 'group_by', allowed: readonly string[] = GROUP_KEYS): GroupKey[] {
  const keys = [...new Set(listParam(c, name))];
  for (const key of keys) {
    if (!allowed.includes(key)) throw badRequest(`${name}: unknown dimension "${key}"; use any of ${allowed.join(', ')}`);
  }
  return keys as GroupKey[];
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 date-time with a zone, or a date (midnight in `zone`), as epoch ms. */
export function parseInstant(name: string, value: string, zone = 'UTC'): number {
  let ms = DATE_TIME.test(value) ? Date.parse(value) : NaN;
  if (DATE_ONLY.test(value)) {
    const [y, m, d] = value.split('-').map(Number) as [number, number, number];
    const utc = new Date(Date.UTC(y, m - 1, d));
    if (utc.getUTCMonth() === m - 1 && utc.getUTCDate() === d) ms = localToUtc(zone, y, m - 1, d);
  }
  if (Number.isNaN(ms)) throw badRequest(`${name}: "${value}" is not a date (YYYY-MM-DD) or an RFC 3339 date-time with a zone`);
  return ms;
}

/** The start of the month holding `ms` in the zone, or of a month after it. */
export function startOfMonth(ms: number, zone: string, addMonths = 0): number {
  const local = utcToLocal(zone, ms);
  return localToUtc(zone, local.year, local.month + addMonths, 1);
}

/** `tz`: an IANA zone for dates and local buckets; UTC by default. */
export function parseZone(c: Context): string {
  const zone = singleParam(c, 'tz') ?? 'UTC';
  const result = ZoneName.safeParse(zone);
  if (!result.success) throw badRequest(`tz: "${zone}" ${result.error.issues[0]!.message}`);
  return zone;
}

/** The zone as the store needs it: offsets over the range, or nothing for UTC. */
export function zoneFor(zone: string, from: number, to: number): ZoneSegment[] | undefined {
  return zone === 'UTC' ? undefined : zoneSegments(zone, from, to);
}

/** `from` inclusive, `to` exclusive; by default the current month (in `zone`). */
export function parseRange(c: Context, now: number, zone = 'UTC'): { from: number; to: number } {
  const fromText = singleParam(c, 'from');
  const toText = singleParam(c, 'to');
  const from = fromText ? parseInstant('from', fromText, zone) : startOfMonth(now, zone);
  const to = toText ? parseInstant('to', toText, zone) : startOfMonth(Math.max(now, from), zone, 1);
  if (from > to) throw badRequest(`from: ${isoUtc(from)} is after to (${isoUtc(to)})`);
  return { from, to };
}

export function parseLimit(c: Context, fallback: number, max: number): number {
  const text = singleParam(c, 'limit');
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) throw badRequest(`limit: must be a whole number from 1 to ${max}`);
  return n;
}

/** Metric names as the API spells them, and the stored metric each sorts by. */
export const ORDER_METRICS: Record<string, keyof Metrics | 'total_tokens'> = {
  events: 'events', input_tokens: 'input_tokens', output_tokens: 'output_tokens',
  cache_read_tokens: 'cache_read_tokens', cache_write_tokens: 'cache_write_tokens',
  reasoning_tokens: 'reasoning_tokens', total_tokens: 'total_tokens', cost_usd: 'cost_nanos',
  cost_reported_usd: 'reported_cost_nanos', unpriced_events: 'unpriced_events',
};

/** `order=cost_usd` (largest first) or `order=cost_usd:asc`. */
export function parseOrder(c: Context): { by: keyof Metrics | 'total_tokens'; dir: 'asc' | 'desc' } | null {
  const text = singleParam(c, 'order');
  if (text === undefined) return null;
  const [name = '', dir = 'desc', extra] = text.split(':');
  const by = ORDER_METRICS[name];
  if (!by || extra !== undefined || (dir !== 'asc' && dir !== 'desc')) {
    throw badRequest(`order: "${text}" is not one of ${Object.keys(ORDER_METRICS).join(', ')}, optionally followed by :asc or :desc`);
  }
  return { by, dir };
}
