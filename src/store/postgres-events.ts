import type pg from 'pg';
import { eventClauses, eventsSql, spansOf, unindexedFilters, type Span } from './events-sql.js';
import { filterClauses, type Sql } from './query-builder.js';
import { numbered, POSTGRES_DIALECT } from './postgres-queries.js';
import type { EventsQuery, Filters, StoredEvent } from './types.js';

/** usage_slots' period (migration 0011's usage_slot()). */
const SLOT_MS = 900_000;

/**
 * Up to `limit` + 1 events of a page, newest first. Filtered by project or model and not by agent,
 * it reads only the 15-minute slots usage_slots names for them (migration 0015 dropped the raw
 * events' indexes by project and by model; the one by agent answers a filter by agent itself): the
 * spans of those slots, latest first, a few more per statement each time (1, 2, 4, …), so a value
 * found everywhere costs one statement and a rare one a handful, not one per slot.
 */
export async function readEventRows(client: pg.ClientBase | pg.Pool, query: EventsQuery): Promise<StoredEvent[]> {
  const slots = eventSlotsSql(query);
  if (!slots) return rows(client, eventsSql(query, POSTGRES_DIALECT));
  const starts = (await client.query<{ ts: number }>(numbered(slots.sql), slots.params)).rows.map((r) => r.ts);
  const spans = spansOf(starts, SLOT_MS);
  const found: StoredEvent[] = [];
  for (let first = 0, count = 1; first < spans.length && found.length <= query.limit; first += count, count *= 2) {
    found.push(...await rows(client, spansSql({ ...query, limit: query.limit - found.length }, spans.slice(first, first + count))));
  }
  return found;
}

async function rows(client: pg.ClientBase | pg.Pool, { sql, params }: Sql): Promise<StoredEvent[]> {
  return (await client.query<StoredEvent>(numbered(sql), params)).rows;
}

/**
 * The list's filters by project or model when it has no filter by agent: the filters it reads
 * slots for; null when an index answers the list (unfiltered, or by agent).
 */
export function slotFilters(query: EventsQuery): Filters | null {
  const filters = unindexedFilters(query);
  return filters && !query.filters.agent ? filters : null;
}

/** The starts of the slots, latest first, that hold events the page may list; null when an index answers the filters. */
function eventSlotsSql(query: EventsQuery): Sql | null {
  const filters = slotFilters(query);
  if (!filters) return null;
  const params: unknown[] = [];
  const clauses = filterClauses(filters, POSTGRES_DIALECT, params);
  const to = query.after ? query.after.ts + 1 : query.to;
  if (query.from !== null) clauses.push('ts > ?'), params.push(query.from - SLOT_MS);
  if (to !== null) clauses.push('ts < ?'), params.push(to);
  return { sql: `SELECT DISTINCT ts FROM usage_slots WHERE ${clauses.join(' AND ')} ORDER BY ts DESC`, params };
}

/**
 * The page's events within `spans` (latest first): each span read newest first up to the page's
 * size on the ts index, then the spans' rows in the page's order.
 */
function spansSql(query: EventsQuery, spans: readonly Span[]): Sql {
  const params: unknown[] = [spans.map((s) => s.from), spans.map((s) => s.to)];
  const clauses = ['ts >= s.lo', 'ts < s.hi', ...eventClauses(query, POSTGRES_DIALECT, params)];
  params.push(query.limit + 1, query.limit + 1);
  return {
    sql: `SELECT e.* FROM unnest(CAST(? AS bigint[]), CAST(? AS bigint[])) AS s (lo, hi),
      LATERAL (SELECT * FROM usage_events WHERE ${clauses.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ?) AS e
      ORDER BY e.ts DESC, e.seq DESC LIMIT ?`,
    params,
  };
}
