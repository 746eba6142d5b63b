import { HOUR_MS } from './events-sql.js';
import type { Sql, SqlDialect } from './query-builder.js';
import type { ProjectsQuery } from './types.js';

/**
 * An event without a run, as the time index holds it (migration 0015): SQLite takes the test from
 * the index only when it is asked so; a bare `run_id = ''` reads each event's row (1,043 against 375
 * ms for 30 days of 2 M events by model, docs/benchmarks.md, "Events without a run, session 30").
 */
const RUNLESS = "(run_id = '') = TRUE";

/** SQLite's time buckets: `day` is 'YYYY-MM-DD' text; raw buckets via strftime on epoch seconds. */
export const SQLITE_DIALECT: SqlDialect = {
  // As the rollup trigger computes it (migration 0007): the Julian day of 1970 plus whole days.
  utcDay: (ts) => `date(${ts} / 86400000 + 2440587.5)`,
  // Weeks: step forward to Sunday, then back six days to its Monday.
  rollupBucket: {
    day: 'day',
    week: `date(day, 'weekday 0', '-6 days')`,
    month: 'substr(day, 1, 7)',
  },
  // The covering run index (migration 0005) hands SQLite the events in group order with no table
  // reads and no sort. Without statistics SQLite guesses a time range to be narrow and takes the time
  // index, then sorts every event (4-6x slower over 30 days at 1 M events); the forced scan costs at
  // most one pass over the index, however short the range.
  rawTableByRun: 'usage_events INDEXED BY usage_events_run_ts',
  // Each hour a rollup row's runless_hours names (migration 0015) as the span of ms it covers, cut
  // to the report's range; then the span's events without a run, from the time index alone.
  runless: (spans, events) => `(SELECT DISTINCT MAX(unixepoch(day) * 1000 + hour.value * ${HOUR_MS}, ?) AS lo,
      MIN(unixepoch(day) * 1000 + (hour.value + 1) * ${HOUR_MS}, ?) AS hi
    FROM usage_daily JOIN json_each('${JSON.stringify(Array.from({ length: 24 }, (_, h) => h))}') AS hour ON runless_hours & (1 << hour.value) <> 0
    WHERE runless_hours <> 0 AND ${spans}) AS runless
    CROSS JOIN usage_events INDEXED BY usage_events_ts
    WHERE ts >= runless.lo AND ts < runless.hi AND ${RUNLESS} AND ${events}`,
  runlessFilter: RUNLESS,
  pregroupsRollup: true,
  rollupHigh: true,
  rollupHours: true,
  rawBucket: {
    hour: (local, suffix) => `strftime('%Y-%m-%dT%H:00:00', ${local}, 'unixepoch') || ${suffix}`,
    day: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch')`,
    week: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch', 'weekday 0', '-6 days')`,
    month: (local) => `strftime('%Y-%m', ${local}, 'unixepoch')`,
  },
  inList: { sql: (column) => `${column} IN (SELECT value FROM json_each(?))`, param: (values) => JSON.stringify(values) },
  inTuples: {
    sql: (columns) => `(${columns.join(', ')}) IN (SELECT ${columns.map((_, i) => `value ->> ${i}`).join(', ')} FROM json_each(?))`,
    params: (tuples) => [JSON.stringify(tuples)],
  },
};

/** See Store.readMetricStreams: the streams come as one JSON array. */
export const METRIC_STREAMS_SQL = `SELECT stream, start_nanos AS start, time_nanos AS time, value, updated_at AS moved_at FROM metric_streams
  WHERE stream IN (SELECT value FROM json_each(?))`;

/** See Store.pruneMetricStreams: the streams come as one JSON array. */
export const PRUNE_STREAMS_SQL = 'DELETE FROM metric_streams WHERE stream IN (SELECT value FROM json_each(?)) AND updated_at < ?';

/** See Store.probeWrite. */
export const PROBE_WRITE_SQL = 'INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at';

const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
const PROJECT_COLUMNS = `id, name, description, archived, is_pinned AS pinned, pin_order, created_at, updated_at`;

/** Statements on `projects`. */
export const PROJECT_SQL = {
  get: `SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ?`,
  // Archiving also unpins, so the pin order only ever holds projects the default list shows.
  save: `INSERT INTO projects (id, name, description, archived, created_at, updated_at)
    VALUES (@id, COALESCE(@name, @id), COALESCE(@description, ''), COALESCE(@archived, 0), ${NOW}, ${NOW})
    ON CONFLICT (id) DO UPDATE SET
      name = COALESCE(@name, name),
      description = COALESCE(@description, description),
      archived = COALESCE(@archived, archived),
      is_pinned = CASE WHEN COALESCE(@archived, archived) = 1 THEN 0 ELSE is_pinned END,
      pin_order = CASE WHEN COALESCE(@archived, archived) = 1 THEN NULL ELSE pin_order END,
      updated_at = ${NOW}`,
  pin: `UPDATE projects SET is_pinned = 1, updated_at = ${NOW},
    pin_order = (SELECT COALESCE(MAX(pin_order), 0) + 1 FROM projects)
    WHERE id = ? AND is_pinned = 0`,
  unpin: `UPDATE projects SET is_pinned = 0, pin_order = NULL, updated_at = ${NOW} WHERE id = ? AND is_pinned = 1`,
  pinnedIds: `SELECT id FROM projects WHERE is_pinned = 1`,
  // The unique index on pin_order is checked row by row: move every pin out of the way first.
  clearOrder: `UPDATE projects SET pin_order = -pin_order WHERE is_pinned = 1`,
  setOrder: `UPDATE projects SET pin_order = ?, updated_at = ${NOW} WHERE id = ?`,
};

/** The project list: pinned first by their order, then the rest by name ignoring case (and id, for equal names). */
export function listProjectsSql(query: ProjectsQuery): Sql {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (!query.includeArchived) clauses.push('archived = 0');
  if (query.ids) {
    clauses.push(`id IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(query.ids));
  }
  if (query.search !== undefined) {
    clauses.push('(instr(lower(id), lower(?)) > 0 OR instr(lower(name), lower(?)) > 0)');
    params.push(query.search, query.search);
  }
  if (query.after && 'pinOrder' in query.after) {
    clauses.push('((is_pinned = 1 AND pin_order > ?) OR is_pinned = 0)');
    params.push(query.after.pinOrder);
  } else if (query.after) {
    clauses.push('is_pinned = 0 AND (lower(name) > lower(?) OR (lower(name) = lower(?) AND id > ?))');
    params.push(query.after.name, query.after.name, query.after.id);
  }
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  const limit = query.limit === undefined ? '' : ` LIMIT ${Number(query.limit)}`;
  return { sql: `SELECT ${PROJECT_COLUMNS} FROM projects ${where} ORDER BY is_pinned DESC, pin_order, lower(name), id${limit}`, params };
}
