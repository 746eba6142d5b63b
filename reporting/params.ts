import { z } from 'zod';
import { badRequest, quoteInput } from '../src/http/errors.js';
import { list, once } from '../src/http/query.js';
import { DIMENSIONS, type Dimension, type Filters, type GroupKey, type OrderBy, TIME_BUCKETS } from '../src/store/types.js';
import { isoUtc } from '../src/time.js';
import { localToUtc, prepareZone, utcMs, utcToLocal, ZoneName, zoneSegments } from '../src/zone.js';
import type { ZoneSegment } from '../src/zone-offset.js';

/**
 * The query parameters the reports share, as zod schemas: each route's query schema is built from
 * these, validates the request and writes the parameters of the OpenAPI document.
 */

/** Alternative spellings of dimension filters, matching the event's field names. */
const ALIASES = { agent_id: 'agent', task_label: 'task', run_id: 'run', session_id: 'session', user_id: 'user' } as const satisfies Record<string, Dimension>;
type FilterName = Dimension | keyof typeof ALIASES;

function filterParam(name: FilterName) {
  const dimension = name in ALIASES ? ALIASES[name as keyof typeof ALIASES] : name;
  const about = dimension === name ? `Only events whose ${name} is one of these` : `Same as \`${dimension}\``;
  return list(z.string()).optional().describe(`${about} (repeat the parameter or give a comma list).`);
}

/** A filter per dimension, under its report name and under the event's field name. */
export const FILTER_PARAMS = Object.fromEntries(
  [...DIMENSIONS, ...Object.keys(ALIASES)].map((name) => [name, filterParam(name as FilterName)]),
) as Record<FilterName, ReturnType<typeof filterParam>>;

export function filtersOf(query: Partial<Record<FilterName, string[]>>): Filters {
  const filters: Filters = {};
  for (const dimension of DIMENSIONS) {
    const aliases = Object.entries(ALIASES).filter(([, d]) => d === dimension).map(([alias]) => alias as FilterName);
    const values = [dimension, ...aliases].flatMap((name) => query[name] ?? []);
    if (values.length > 0) filters[dimension] = [...new Set(values)];
  }
  return filters;
}

export const GROUP_KEYS: readonly GroupKey[] = [...DIMENSIONS, ...TIME_BUCKETS];

export function groupByParam<K extends GroupKey>(allowed: readonly K[]) {
  const key = z.enum(allowed as [K, ...K[]], {
    error: (issue) => `unknown dimension ${quoteInput(issue.input)}; use any of ${allowed.join(', ')}`,
  });
  return list(key).default([]).describe(`Group by any of ${allowed.join(', ')} (comma list).`);
}

/** The years a report may ask about: every year an event can have (2000-2099), and the one after, for ranges ending with it. */
export const FIRST_YEAR = 2000;
export const LAST_YEAR = 2100;

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2})))?$/i;

/**
 * An RFC 3339 date-time with a zone, or a date (midnight in `zone`), as epoch ms; NaN if neither,
 * or if its year is outside FIRST_YEAR..LAST_YEAR. Read field by field: Date.parse guesses at
 * forms it does not know, and Date.UTC reads the years 0-99 as 1900-1999.
 */
export function instantMs(value: string, zone = 'UTC'): number {
  const m = INSTANT.exec(value);
  if (!m) return NaN;
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((n) => (n === undefined ? undefined : Number(n))) as number[];
  const date = new Date(utcMs(year!, month! - 1, day!));
  if (year! < FIRST_YEAR || year! > LAST_YEAR || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day) return NaN;
  if (m[4] === undefined) return localToUtc(zone, year!, month! - 1, day!);
  const offset = m[8]!.toUpperCase() === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  if (hour > 23 || minute > 59 || second > 59 || Math.abs(offset) >= 24 * 60 || Number(m[11] ?? 0) > 59) return NaN;
  const fraction = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  return utcMs(year!, month! - 1, day!, hour, minute, second, fraction) - offset * 60_000;
}

/** The text of an instant; it becomes epoch ms once the zone it is read in is known. */
export function instantParam(description: string, example: string) {
  const text = z.string().refine((value) => !Number.isNaN(instantMs(value)), {
    error: (issue) => /^\d{4}/.test(String(issue.input)) && !Number.isNaN(instantMs(`${FIRST_YEAR}${String(issue.input).slice(4)}`))
      ? `${quoteInput(issue.input)} is outside the years ${FIRST_YEAR} to ${LAST_YEAR} (events are stored for ${FIRST_YEAR} to ${LAST_YEAR - 1})`
      : `${quoteInput(issue.input)} is not a date (YYYY-MM-DD) or an RFC 3339 date-time with a zone`,
  });
  return once(text).optional().meta({ description: `${description} Years ${FIRST_YEAR} to ${LAST_YEAR}.`, example });
}

export const RANGE_PARAMS = {
  from: instantParam('Start, inclusive: a date (midnight in `tz`) or an RFC 3339 date-time. Default: the start of the current month.', '2026-11-01'),
  to: instantParam('End, exclusive. Default: the end of the current month, or of the month `from` falls in when that is later.', '2026-12-01'),
};

export const tzParam = once(ZoneName.default('UTC')).meta({ description: 'IANA time zone for dates and local buckets.', example: 'Europe/Paris' });

export function limitParam(fallback: number, max: number, description: string, min = 1) {
  const message = `must be a whole number from ${min} to ${max}`;
  // Digits only: Number() would also read 0x10, 1e3 or " 12 ".
  const whole = z.string().regex(/^\d{1,9}$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
  return once(whole.default(fallback)).describe(description);
}

/** The start of the month holding `ms` in the zone, or of a month after it. */
export function startOfMonth(ms: number, zone: string, addMonths = 0): number {
  const local = utcToLocal(zone, ms);
  return localToUtc(zone, local.year, local.month + addMonths, 1);
}

/**
 * The zone as the store needs it: offsets over the range when the answer has local time buckets,
 * nothing for UTC or for an answer without time buckets (the zone then only placed `from` and `to`).
 */
export async function zoneFor(zone: string, from: number, to: number, groupBy: readonly GroupKey[]): Promise<ZoneSegment[] | undefined> {
  if (zone === 'UTC' || !groupBy.some((g) => (TIME_BUCKETS as readonly string[]).includes(g))) return undefined;
  await prepareZone(zone, from, to);
  return zoneSegments(zone, from, to);
}

/** `from` inclusive, `to` exclusive; by default the current month (in `zone`). */
export function rangeOf(query: { from?: string; to?: string }, now: number, zone = 'UTC'): { from: number; to: number } {
  const from = query.from ? instantMs(query.from, zone) : startOfMonth(now, zone);
  const to = query.to ? instantMs(query.to, zone) : startOfMonth(Math.max(now, from), zone, 1);
  if (from > to) throw badRequest(`from: ${isoUtc(from)} is after to (${isoUtc(to)})`);
  return { from, to };
}

/** Metric names as the API spells them, and the stored metric each sorts by. */
const ORDER_METRICS: Record<string, OrderBy> = {
  events: 'events', input_tokens: 'input_tokens', output_tokens: 'output_tokens',
  cache_read_tokens: 'cache_read_tokens', cache_write_tokens: 'cache_write_tokens',
  reasoning_tokens: 'reasoning_tokens', total_tokens: 'total_tokens', cost_usd: 'cost_nanos',
  cost_reported_usd: 'reported_cost_nanos', cost_computed_usd: 'computed_cost_nanos', unpriced_events: 'unpriced_events',
};

/** `order=cost_usd` (largest first) or `order=cost_usd:asc`. */
export const orderParam = once(
  z.string()
    .regex(new RegExp(`^(${Object.keys(ORDER_METRICS).join('|')})(:(asc|desc))?$`), {
      error: (issue) => `${quoteInput(issue.input)} is not one of ${Object.keys(ORDER_METRICS).join(', ')}, optionally followed by :asc or :desc`,
    })
    .transform((text) => {
      const [name = '', dir = 'desc'] = text.split(':');
      return { by: ORDER_METRICS[name]!, dir: dir as 'asc' | 'desc' };
    }),
).optional().meta({ description: 'Sort groups by a metric, largest first, or `metric:asc`.', example: 'cost_usd:desc' });

/** A page's place as the `next_cursor` an answer gives out: opaque to clients, JSON inside. */
export function encodeCursor(place: unknown): string {
  return Buffer.from(JSON.stringify(place)).toString('base64url');
}

/** `cursor`: a `next_cursor` this API gave out, read back with `read` (null when it is not one). */
export function cursorParam<T>(read: (place: unknown) => T | null) {
  return once(z.string().max(2048, 'not a cursor this API gave out').transform((text, ctx): T => {
    let place: unknown;
    try {
      place = JSON.parse(Buffer.from(text, 'base64url').toString());
    } catch {
      place = undefined;
    }
    const value = read(place);
    if (value !== null) return value;
    ctx.addIssue({ code: 'custom', message: 'not a cursor this API gave out (use next_cursor from the previous page)' });
    return z.NEVER;
  })).optional().describe('`next_cursor` of the previous page');
}
