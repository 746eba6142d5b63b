import type { UsageRecord } from '../event/schema.js';
import type { ProjectsQuery } from './types.js';
import type { SqlDialect } from './query-builder.js';
import { rebuildRollupSql } from './rollup-check-sql.js';
import { SUMMARY_TABLES } from './postgres-summaries.js';

/**
 * Every statement the PostgreSQL store runs beyond the shared report queries. Table layout and
 * triggers live in migrations/postgres/.
 */

/** PostgreSQL's time buckets: `day` is a DATE; raw buckets via to_char on a UTC timestamp. */
export const POSTGRES_DIALECT: SqlDialect = {
  utcDay: (ts) => `usage_day(${ts})`,
  rollupBucket: {
    day: `to_char(day, 'YYYY-MM-DD')`,
    week: `to_char(date_trunc('week', day::timestamp), 'YYYY-MM-DD')`,
    month: `to_char(date_trunc('month', day::timestamp), 'YYYY-MM')`,
  },
  rollupBucketGroup: { day: 'day', week: `date_trunc('week', day::timestamp)`, month: `date_trunc('month', day::timestamp)` },
  rawTableByRun: 'usage_events',
  pregroupsRollup: false,
  pregroupsRawBuckets: true,
  rollupHigh: false,
  narrowSum: 'narrow_sum',
  rollupHours: false,
  rawBucket: {
    hour: (local, suffix) => `to_char(${utc(local)}, 'YYYY-MM-DD"T"HH24:00:00') || ${suffix}`,
    day: (local) => `to_char(${utc(local)}, 'YYYY-MM-DD')`,
    week: (local) => `to_char(date_trunc('week', ${utc(local)}), 'YYYY-MM-DD')`,
    month: (local) => `to_char(${utc(local)}, 'YYYY-MM')`,
  },
  inList: { sql: (column) => `${column} = ANY(CAST(? AS text[]))`, param: (values) => values },
  inTuples: {
    sql: (columns) => `(${columns.join(', ')}) IN (SELECT * FROM unnest(${columns.map(() => 'CAST(? AS text[])').join(', ')}))`,
    params: (tuples, width) => Array.from({ length: width }, (_, i) => tuples.map((t) => t[i])),
  },
};

/** Epoch seconds as a timestamp without zone, so no session TimeZone setting can shift it. */
function utc(seconds: string): string {
  return `(to_timestamp(${seconds}) AT TIME ZONE 'UTC')`;
}

/** `?` placeholders (the shared builder's) as PostgreSQL's `$1, $2, ...`. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Column name and array type of every stored field, for inserting a batch as one unnest(). */
const RECORD_COLUMNS = {
  id: 'text', ts: 'bigint', project: 'text', agent_id: 'text', model: 'text', provider: 'text', operation: 'text',
  task_label: 'text', run_id: 'text', step_id: 'text', session_id: 'text', user_id: 'text', input_tokens: 'bigint',
  output_tokens: 'bigint', cache_read_tokens: 'bigint', cache_write_tokens: 'bigint', reasoning_tokens: 'bigint',
  cost_nanos: 'bigint', cost_source: 'text', duration_ms: 'bigint', status: 'text', attributes: 'text', received_at: 'bigint',
} as const satisfies Record<keyof UsageRecord, string>;
const RECORD_FIELDS = Object.keys(RECORD_COLUMNS) as (keyof UsageRecord)[];

/**
 * One statement per batch: a single trigger call then folds the whole batch into the rollup. Of one
 * id sent twice to a project the first is kept, as on SQLite. Its (project, id) pairs go into
 * usage_event_ids first, in that key's order, so two collectors inserting overlapping batches wait
 * on each other instead of deadlocking; only the events whose pair was new reach usage_events
 * (partitioned, so it cannot hold that unique key itself). The pairs returned are the rows really inserted.
 */
export const INSERT_BATCH_SQL = `
  WITH batch AS (
    SELECT DISTINCT ON (project, id) ${RECORD_FIELDS.join(', ')}
    FROM unnest(${RECORD_FIELDS.map((f, i) => `$${i + 1}::${RECORD_COLUMNS[f]}[]`).join(', ')})
      WITH ORDINALITY AS batch (${RECORD_FIELDS.join(', ')}, position)
    ORDER BY project, id, position
  ), fresh AS (
    INSERT INTO usage_event_ids (project, id, ts)
    SELECT project, id, ts FROM batch ORDER BY project, id
    ON CONFLICT (project, id) DO NOTHING
    RETURNING project, id
  )
  INSERT INTO usage_events (${RECORD_FIELDS.join(', ')})
  SELECT ${RECORD_FIELDS.map((f) => `batch.${f}`).join(', ')} FROM batch JOIN fresh USING (project, id)
  RETURNING project, id`;

export function insertBatchParams(records: readonly UsageRecord[]): unknown[][] {
  return RECORD_FIELDS.map((field) => records.map((r) => r[field]));
}

/** See Store.readMetricStreams. */
export const METRIC_STREAMS_SQL = `SELECT stream, start_nanos AS start, time_nanos AS time, value, updated_at AS moved_at FROM metric_streams WHERE stream = ANY($1::text[])`;

/** See Store.pruneMetricStreams. */
export const PRUNE_STREAMS_SQL = 'DELETE FROM metric_streams WHERE stream = ANY($1::text[]) AND updated_at < $2';

export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;

/** Any fixed number, the same in every process: it names the lock that serialises migrations. */
export const MIGRATION_LOCK_KEY = 7_301_975_231;

/** Pages by (ts, seq), which the ts index of every partition serves in order. */
export const REPRICE_SELECT_SQL = `
  SELECT * FROM usage_events
  WHERE ts >= $1 AND ts < $2 AND cost_source <> 'reported' AND ($3::text[] IS NULL OR model = ANY($3)) AND (ts, seq) > ($4, $5)
  ORDER BY ts, seq LIMIT 1000`;

/** ts leads each row to its partition; seq is unique. */
export const REPRICE_UPDATE_SQL = `
  UPDATE usage_events AS e SET cost_nanos = c.cost_nanos, cost_source = c.cost_source
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) AS c (ts, seq, cost_nanos, cost_source)
  WHERE e.ts = c.ts AND e.seq = c.seq`;

/**
 * Writers wait while the rollups are rebuilt, so no insert lands between a delete and its refill;
 * the summaries (migration 0011) after usage_daily, as one of them is kept from it.
 */
export const REBUILD_ROLLUPS_SQL = [
  'LOCK TABLE usage_events IN SHARE MODE',
  `LOCK TABLE usage_daily, ${SUMMARY_TABLES.join(', ')} IN EXCLUSIVE MODE`,
  ...rebuildRollupSql(POSTGRES_DIALECT),
  ...SUMMARY_TABLES.map((table) => `SELECT usage_rollup_rebuild('${table}')`),
];

/** The summaries' rows that differ from what they are kept from (migration 0011), all summaries together. */
export const SUMMARY_MISMATCHES_SQL = `SELECT (${SUMMARY_TABLES.map((table) => `usage_rollup_mismatches('${table}')`).join(' + ')})::int AS mismatches`;

/** Up to $1 rows of each summary kept from raw events before the horizon (slots, runs): retention's last step. */
export const PRUNE_SUMMARIES_SQL = 'SELECT usage_rollup_prune($1)::int AS deleted';

/** See Store.probeWrite; only probes write this row, so none waits for long. */
export const PROBE_WRITE_SQL = 'INSERT INTO write_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at';

export const RAW_HORIZON_SQL = 'SELECT horizon FROM raw_retention WHERE id = 1';

/** Partitions from $1's month to two months ahead (and for any month strays arrived for). */
export const ADD_PARTITIONS_SQL = 'SELECT usage_events_add_partitions($1, 2) AS added';

const PROJECT_COLUMNS = `id, name, description, archived, is_pinned AS pinned, pin_order,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

/** Statements on `projects`, as on SQLite. */
export const PROJECT_SQL = {
  get: `SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = $1`,
  // Archiving also unpins, so the pin order only ever holds projects the default list shows.
  save: `INSERT INTO projects (id, name, description, archived)
    VALUES ($1, COALESCE($2::text, $1), COALESCE($3::text, ''), COALESCE($4::boolean, FALSE))
    ON CONFLICT (id) DO UPDATE SET
      name = COALESCE($2::text, projects.name),
      description = COALESCE($3::text, projects.description),
      archived = COALESCE($4::boolean, projects.archived),
      is_pinned = CASE WHEN COALESCE($4::boolean, projects.archived) THEN FALSE ELSE projects.is_pinned END,
      pin_order = CASE WHEN COALESCE($4::boolean, projects.archived) THEN NULL ELSE projects.pin_order END,
      updated_at = now()
    RETURNING (xmax = 0) AS created`,
  // Pins and reorders take this lock first, so two of them never compute the same next place.
  lockPins: 'LOCK TABLE projects IN SHARE ROW EXCLUSIVE MODE',
  pin: `UPDATE projects SET is_pinned = TRUE, updated_at = now(),
    pin_order = (SELECT COALESCE(MAX(pin_order), 0) + 1 FROM projects)
    WHERE id = $1 AND NOT is_pinned`,
  unpin: 'UPDATE projects SET is_pinned = FALSE, pin_order = NULL, updated_at = now() WHERE id = $1 AND is_pinned',
  pinnedIds: 'SELECT id FROM projects WHERE is_pinned',
  // The unique index on pin_order is checked row by row: move every pin out of the way first.
  clearOrder: 'UPDATE projects SET pin_order = -pin_order WHERE is_pinned',
  setOrder: `UPDATE projects AS p SET pin_order = o.position, updated_at = now()
    FROM unnest($1::text[]) WITH ORDINALITY AS o (id, position) WHERE p.id = o.id`,
};

/** The project list: pinned first by their order, then the rest by name ignoring case (and id, for equal names). */
export function listProjectsSql(query: ProjectsQuery): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  if (!query.includeArchived) clauses.push('NOT archived');
  if (query.ids) clauses.push(`id = ANY(${param(query.ids)}::text[])`);
  if (query.search !== undefined) {
    const search = param(query.search);
    clauses.push(`(strpos(lower(id), lower(${search})) > 0 OR strpos(lower(name), lower(${search})) > 0)`);
  }
  if (query.after && 'pinOrder' in query.after) {
    clauses.push(`((is_pinned AND pin_order > ${param(query.after.pinOrder)}) OR NOT is_pinned)`);
  } else if (query.after) {
    const name = param(query.after.name);
    clauses.push(`NOT is_pinned AND (lower(name) > lower(${name}) OR (lower(name) = lower(${name}) AND id > ${param(query.after.id)}))`);
  }
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  const limit = query.limit === undefined ? '' : ` LIMIT ${Number(query.limit)}`;
  return { sql: `SELECT ${PROJECT_COLUMNS} FROM projects ${where} ORDER BY is_pinned DESC, pin_order, lower(name), id${limit}`, params };
}
