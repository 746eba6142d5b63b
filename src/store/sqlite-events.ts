import type Database from 'better-sqlite3';
import { eventDaysSql, eventsSql, hourSpans } from './events-sql.js';
import { SQLITE_DIALECT } from './sqlite-queries.js';
import type { EventsPage, EventsQuery, StoredEvent } from './types.js';

/**
 * A page of raw events, newest first. Filtered by project, agent or model, it reads only the hours
 * the rollup names for them, latest first, until the page is full: the raw table has no index per
 * dimension (migration 0014), and a rare agent would otherwise mean reading the whole range.
 */
export function readEventsPage(db: Database.Database, query: EventsQuery): EventsPage {
  const rows = db.transaction(() => {
    const days = eventDaysSql(query, SQLITE_DIALECT);
    if (!days) return eventRows(db, query);
    const found: StoredEvent[] = [];
    for (const span of hourSpans(db.prepare(days.sql).all(days.params) as { day: string; hours: number }[])) {
      if (found.length > query.limit) break;
      const from = Math.max(span.from, query.from ?? span.from);
      const to = Math.min(span.to, query.to ?? span.to);
      if (from < to) found.push(...eventRows(db, { ...query, from, to, limit: query.limit - found.length }));
    }
    return found;
  })();
  const more = rows.length > query.limit;
  if (more) rows.pop();
  const last = rows[rows.length - 1];
  return { events: rows, next: more && last ? { ts: last.ts, seq: last.seq } : null };
}

/** Up to `limit` + 1 events, to tell whether another page follows. */
function eventRows(db: Database.Database, query: EventsQuery): StoredEvent[] {
  const { sql, params } = eventsSql(query, SQLITE_DIALECT);
  return db.prepare(sql).all(params) as StoredEvent[];
}
