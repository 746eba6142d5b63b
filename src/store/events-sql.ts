import type { Dimension, EventsQuery, Filters } from './types.js';
import { filterClauses, utcDay, type Sql, type SqlDialect } from './query-builder.js';

/** The raw event list's queries: a page of events, and the days and hours that can hold it. */

export function eventsSql(query: EventsQuery, dialect: SqlDialect): Sql {
  const params: unknown[] = [];
  const clauses = eventClauses(query, dialect, params);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  params.push(query.limit + 1);
  return { sql: `SELECT * FROM usage_events ${where} ORDER BY ts DESC, seq DESC LIMIT ?`, params };
}

/** The conditions an event of the list meets: its filters, its range, and past the cursor. */
export function eventClauses(query: EventsQuery, dialect: SqlDialect, params: unknown[]): string[] {
  const clauses = filterClauses(query.filters, dialect, params);
  if (query.from !== null) clauses.push('ts >= ?'), params.push(query.from);
  if (query.to !== null) clauses.push('ts < ?'), params.push(query.to);
  if (query.after) clauses.push('(ts < ? OR (ts = ? AND seq < ?))'), params.push(query.after.ts, query.after.ts, query.after.seq);
  return clauses;
}

/**
 * The dimensions SQLite's raw events have no index for (migration 0014; PostgreSQL's 0015 drops
 * those by project and model and keeps the one by agent): a list filtered by them reads only the
 * times a summary names for them (SQLite the rollup's hours, PostgreSQL the 15-minute slots).
 */
const UNINDEXED_DIMENSIONS = ['project', 'agent', 'model'] as const satisfies readonly Dimension[];

/** The query's filters by unindexed dimensions; null when it has none. */
export function unindexedFilters(query: EventsQuery): Filters | null {
  const filters = Object.fromEntries(UNINDEXED_DIMENSIONS.flatMap((d) => (query.filters[d] ? [[d, query.filters[d]]] : []))) as Filters;
  return Object.keys(filters).length === 0 ? null : filters;
}

export const HOUR_MS = 3_600_000;
/** The bitwise OR of the `hours` masks of a group (SQLite has no such aggregate): bit by bit. */
const HOURS_OR = Array.from({ length: 24 }, (_, bit) => `MAX(hours & ${2 ** bit})`).join(' | ');

/**
 * The UTC days, latest first, that hold events a page may list, each with the mask of its hours
 * that do, by the query's project, agent and model filters; null when it has none of those filters.
 */
export function eventDaysSql(query: EventsQuery, dialect: SqlDialect): Sql | null {
  const filters = unindexedFilters(query);
  if (!dialect.rollupHours || !filters) return null;
  const params: unknown[] = [];
  const clauses = filterClauses(filters, dialect, params);
  const to = query.after ? query.after.ts + 1 : query.to;
  if (query.from !== null) clauses.push('day >= ?'), params.push(utcDay(query.from));
  if (to !== null) clauses.push('day <= ?'), params.push(utcDay(to - 1));
  return { sql: `SELECT day, ${HOURS_OR} AS hours FROM usage_daily WHERE ${clauses.join(' AND ')} GROUP BY day ORDER BY day DESC`, params };
}

/**
 * The spans of time, latest first, that the days' hours cover (rows as eventDaysSql gives them):
 * one per run of consecutive hours, so a value found in every hour is read in one pass.
 */
export function hourSpans(days: readonly { day: string; hours: number }[]): Span[] {
  const starts: number[] = [];
  for (const { day, hours } of days) {
    const midnight = Date.parse(`${day}T00:00:00Z`);
    for (let bit = 23; bit >= 0; bit--) if ((hours & (2 ** bit)) !== 0) starts.push(midnight + bit * HOUR_MS);
  }
  return spansOf(starts, HOUR_MS);
}

export interface Span {
  from: number;
  to: number;
}

/** The spans, latest first, that periods of `width` starting at `starts` (latest first) cover, consecutive ones joined. */
export function spansOf(starts: readonly number[], width: number): Span[] {
  const spans: Span[] = [];
  for (const from of starts) {
    const last = spans[spans.length - 1];
    if (last && last.from === from + width) last.from = from;
    else spans.push({ from, to: from + width });
  }
  return spans;
}
