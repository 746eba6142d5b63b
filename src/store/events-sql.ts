import type { Dimension, EventsQuery, Filters } from './types.js';
import { filterClauses, utcDay, type Sql, type SqlDialect } from './query-builder.js';

/** The raw event list's queries: a page of events, and the days and hours that can hold it. */

export function eventsSql(query: EventsQuery, dialect: SqlDialect): Sql {
  const params: unknown[] = [];
  const clauses = filterClauses(query.filters, dialect, params);
  if (query.from !== null) clauses.push('ts >= ?'), params.push(query.from);
  if (query.to !== null) clauses.push('ts < ?'), params.push(query.to);
  if (query.after) clauses.push('(ts < ? OR (ts = ? AND seq < ?))'), params.push(query.after.ts, query.after.ts, query.after.seq);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  params.push(query.limit + 1);
  return { sql: `SELECT * FROM usage_events ${where} ORDER BY ts DESC, seq DESC LIMIT ?`, params };
}

/** The dimensions a rollup row's `hours` mask (SQLite, migration 0014) can narrow an event list by. */
const HOUR_DIMENSIONS = ['project', 'agent', 'model'] as const satisfies readonly Dimension[];
export const HOUR_MS = 3_600_000;
/** The bitwise OR of the `hours` masks of a group (SQLite has no such aggregate): bit by bit. */
const HOURS_OR = Array.from({ length: 24 }, (_, bit) => `MAX(hours & ${2 ** bit})`).join(' | ');

/**
 * The UTC days, latest first, that hold events a page may list, each with the mask of its hours
 * that do, by the query's project, agent and model filters; null when it has none of those filters.
 */
export function eventDaysSql(query: EventsQuery, dialect: SqlDialect): Sql | null {
  const filters = Object.fromEntries(HOUR_DIMENSIONS.flatMap((d) => (query.filters[d] ? [[d, query.filters[d]]] : []))) as Filters;
  if (!dialect.rollupHours || Object.keys(filters).length === 0) return null;
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
export function hourSpans(days: readonly { day: string; hours: number }[]): { from: number; to: number }[] {
  const spans: { from: number; to: number }[] = [];
  for (const { day, hours } of days) {
    const midnight = Date.parse(`${day}T00:00:00Z`);
    for (let bit = 23; bit >= 0; bit--) {
      if ((hours & (2 ** bit)) === 0) continue;
      const from = midnight + bit * HOUR_MS;
      const last = spans[spans.length - 1];
      if (last && last.from === from + HOUR_MS) last.from = from;
      else spans.push({ from, to: from + HOUR_MS });
    }
  }
  return spans;
}
