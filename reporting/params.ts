import { z } from 'zod';
import { badRequest } from '../src/http/errors.js';
import { list, once } from '../src/http/query.js';
import { DIMENSIONS, type Dimension, type Filters, type GroupKey, type Metrics, TIME_BUCKETS } from '../src/store/types.js';
import { isoUtc } from '../src/time.js';
import { localToUtc, utcToLocal, ZoneName, zoneSegments, type ZoneSegment } from '../src/zone.js';

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
    error: (issue) => `unknown dimension "${String(issue.input)}"; use any of ${allowed.join(', ')}`,
  });
  return list(key).default([]).describe(`Group by any of ${allowed.join(', ')} (comma list).`);
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 date-time with a zone, or a date (midnight in `zone`), as epoch ms; NaN if neither. */
export function instantMs(value: string, zone = 'UTC'): number {
  if (DATE_TIME.test(value)) return Date.parse(value);
  if (!DATE_ONLY.test(value)) return NaN;
  const [y, m, d] = value.split('-').map(Number) as [number, number, number];
  const utc = new Date(Date.UTC(y, m - 1, d));
  return utc.getUTCMonth() === m - 1 && utc.getUTCDate() === d ? localToUtc(zone, y, m - 1, d) : NaN;
}

/** The text of an instant; it becomes epoch ms once the zone it is read in is known. */
export function instantParam(description: string, example: string) {
  const text = z.string().refine((value) => !Number.isNaN(instantMs(value)), {
    error: (issue) => `"${String(issue.input)}" is not a date (YYYY-MM-DD) or an RFC 3339 date-time with a zone`,
  });
  return once(text).optional().meta({ description, example });
}

export const RANGE_PARAMS = {
  from: instantParam('Start, inclusive: a date (midnight in `tz`) or an RFC 3339 date-time. Default: the start of the current month.', '2026-11-01'),
  to: instantParam('End, exclusive. Default: the end of the month `from` falls in (or of the current month).', '2026-12-01'),
};

export const tzParam = once(ZoneName.default('UTC')).meta({ description: 'IANA time zone for dates and local buckets.', example: 'Europe/Paris' });

export function limitParam(fallback: number, max: number, description: string) {
  const message = `must be a whole number from 1 to ${max}`;
  return once(z.coerce.number({ error: message }).int(message).min(1, message).max(max, message).default(fallback)).describe(description);
}

/** The start of the month holding `ms` in the zone, or of a month after it. */
export function startOfMonth(ms: number, zone: string, addMonths = 0): number {
  const local = utcToLocal(zone, ms);
  return localToUtc(zone, local.year, local.month + addMonths, 1);
}

/** The zone as the store needs it: offsets over the range, or nothing for UTC. */
export function zoneFor(zone: string, from: number, to: number): ZoneSegment[] | undefined {
  return zone === 'UTC' ? undefined : zoneSegments(zone, from, to);
}

/** `from` inclusive, `to` exclusive; by default the current month (in `zone`). */
export function rangeOf(query: { from?: string; to?: string }, now: number, zone = 'UTC'): { from: number; to: number } {
  const from = query.from ? instantMs(query.from, zone) : startOfMonth(now, zone);
  const to = query.to ? instantMs(query.to, zone) : startOfMonth(Math.max(now, from), zone, 1);
  if (from > to) throw badRequest(`from: ${isoUtc(from)} is after to (${isoUtc(to)})`);
  return { from, to };
}

/** Metric names as the API spells them, and the stored metric each sorts by. */
const ORDER_METRICS: Record<string, keyof Metrics | 'total_tokens'> = {
  events: 'events', input_tokens: 'input_tokens', output_tokens: 'output_tokens',
  cache_read_tokens: 'cache_read_tokens', cache_write_tokens: 'cache_write_tokens',
  reasoning_tokens: 'reasoning_tokens', total_tokens: 'total_tokens', cost_usd: 'cost_nanos',
  cost_reported_usd: 'reported_cost_nanos', unpriced_events: 'unpriced_events',
};

/** `order=cost_usd` (largest first) or `order=cost_usd:asc`. */
export const orderParam = once(
  z.string()
    .regex(new RegExp(`^(${Object.keys(ORDER_METRICS).join('|')})(:(asc|desc))?$`), {
      error: (issue) => `"${String(issue.input)}" is not one of ${Object.keys(ORDER_METRICS).join(', ')}, optionally followed by :asc or :desc`,
    })
    .transform((text) => {
      const [name = '', dir = 'desc'] = text.split(':');
      return { by: ORDER_METRICS[name]!, dir: dir as 'asc' | 'desc' };
    }),
).optional().meta({ description: 'Sort groups by a metric, largest first, or `metric:asc`.', example: 'cost_usd:desc' });
