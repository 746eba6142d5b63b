import type { AggregateQuery, Dimension, EventsQuery, Filters, GroupKey, Metrics, TimeBucket } from './types.js';
import { METRIC_NAMES } from './types.js';
import { formatOffset, type ZoneSegment } from '../zone.js';

/** Query text and its bound values. Identifiers only ever come from the maps below, never from input. */
export interface Sql {
  sql: string;
  params: unknown[];
}
export type SqlRow = Record<string, number | string | null>;

const COLUMN: Record<Dimension, string> = {
  project: 'project', agent: 'agent_id', model: 'model', provider: 'provider', task: 'task_label',
  run: 'run_id', operation: 'operation', status: 'status', session: 'session_id', user: 'user_id',
  cost_source: 'cost_source',
};

// Rollup buckets derive from its UTC day; weeks start on Monday (ISO 8601): step forward to
// Sunday, then back six days.
const ROLLUP_BUCKET: Partial<Record<TimeBucket, string>> = {
  day: 'day',
  week: `date(day, 'weekday 0', '-6 days')`,
  month: 'substr(day, 1, 7)',
};

/** Raw buckets are computed on local time: the event's instant shifted by the zone's offset. */
const RAW_BUCKET: Record<TimeBucket, (local: string, suffix: string) => string> = {
  hour: (local, suffix) => `strftime('%Y-%m-%dT%H:00:00', ${local}, 'unixepoch') || ${suffix}`,
  day: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch')`,
  week: (local) => `strftime('%Y-%m-%d', ${local}, 'unixepoch', 'weekday 0', '-6 days')`,
  month: (local) => `strftime('%Y-%m', ${local}, 'unixepoch')`,
};

/** `CASE WHEN ts >= ? THEN ? ... END`, latest segment first; one segment needs no CASE. */
function piecewise(zone: ZoneSegment[], value: (s: ZoneSegment) => number | string, params: unknown[]): string {
  if (zone.length === 1) {
    params.push(value(zone[0]!));
    return '?';
  }
  const arms = zone.slice(1).reverse().map((s) => {
    params.push(s.from, value(s));
    return 'WHEN ts >= ? THEN ?';
  });
  params.push(value(zone[0]!));
  return `(CASE ${arms.join(' ')} ELSE ? END)`;
}

const UTC: ZoneSegment[] = [{ from: Number.MIN_SAFE_INTEGER, offsetMinutes: 0 }];

const TABLE = { rollup: 'usage_daily', raw: 'usage_events' } as const;

const METRICS_SQL = {
  rollup: METRIC_NAMES.map((m) => `COALESCE(SUM(${m}), 0) AS ${m}`).join(', '),
  raw: [
    'COUNT(*) AS events',
    ...['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_nanos']
      .map((m) => `COALESCE(SUM(${m}), 0) AS ${m}`),
    `COALESCE(SUM(CASE WHEN cost_source = 'reported' THEN cost_nanos ELSE 0 END), 0) AS reported_cost_nanos`,
    `COALESCE(SUM(cost_source = 'unpriced'), 0) AS unpriced_events`,
  ].join(', '),
};

// A bare name in ORDER BY means the result column; inside an expression it would mean a table column.
const TOTAL_TOKENS_ORDER = '(SUM(input_tokens) + SUM(output_tokens))';

export function metricsFromRow(row: SqlRow): Metrics {
  return Object.fromEntries(METRIC_NAMES.map((m) => [m, Number(row[m] ?? 0)])) as unknown as Metrics;
}

function groupExpression(query: AggregateQuery, key: GroupKey, params: unknown[]): string {
  if (key in COLUMN) return COLUMN[key as Dimension];
  if (query.source === 'rollup') {
    const bucket = ROLLUP_BUCKET[key as TimeBucket];
    if (!bucket || query.zone) throw new Error(`the rollup cannot group by ${key}${query.zone ? ' in a time zone' : ''}`);
    return bucket;
  }
  const zone = query.zone ?? UTC;
  const local = `ts / 1000 + ${piecewise(zone, (s) => s.offsetMinutes * 60, params)}`;
  const suffix = key === 'hour' ? piecewise(zone, (s) => formatOffset(s.offsetMinutes), params) : '';
  return RAW_BUCKET[key as TimeBucket](local, suffix);
}

function filterClauses(filters: Filters, params: unknown[]): string[] {
  return Object.entries(filters).flatMap(([dimension, values]) => {
    if (!values) return [];
    // An empty list is a filter no value passes (e.g. a Grafana regex that matched nothing).
    if (values.length === 0) return ['0'];
    params.push(...values);
    return [`${COLUMN[dimension as Dimension]} IN (${values.map(() => '?').join(', ')})`];
  });
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function whereClause(query: AggregateQuery, params: unknown[]): string {
  const clauses =
    query.source === 'rollup'
      ? ['day >= ?', 'day < ?']
      : ['ts >= ?', 'ts < ?'];
  params.push(...(query.source === 'rollup' ? [utcDay(query.from), utcDay(query.to)] : [query.from, query.to]));
  clauses.push(...filterClauses(query.filters, params));
  return clauses.join(' AND ');
}

export function aggregateSql(query: AggregateQuery): { totals: Sql; groups: Sql } {
  const table = TABLE[query.source];
  const metrics = METRICS_SQL[query.source];
  const totalsQuery = { ...query, source: query.totalsSource ?? query.source };
  const totalParams: unknown[] = [];
  const totals = {
    sql: `SELECT ${METRICS_SQL[totalsQuery.source]} FROM ${TABLE[totalsQuery.source]} WHERE ${whereClause(totalsQuery, totalParams)}`,
    params: totalParams,
  };

  // Grouped by run, the covering run index (migration 0003) hands SQLite the events in group order
  // with no table reads and no sort. Without statistics SQLite guesses a time range to be narrow and
  // takes the time index, then sorts every event (4-6x slower over 30 days at 1 M events); the
  // forced scan costs at most one pass over the index, however short the range.
  const fromClause = query.source === 'raw' && query.groupBy.includes('run') ? `${table} INDEXED BY usage_events_run_ts` : table;
  const params: unknown[] = [];
  const keys = query.groupBy.map((g) => `${groupExpression(query, g, params)} AS k_${g}`);
  const where = whereClause(query, params);
  const keyOrder = query.groupBy.map((g) => `k_${g} ASC`);
  const order = query.order
    ? [`${query.order.by === 'total_tokens' ? TOTAL_TOKENS_ORDER : query.order.by} ${query.order.dir.toUpperCase()}`, ...keyOrder]
    : keyOrder;
  const groupSql =
    query.groupBy.length === 0
      ? 'SELECT 1 WHERE 0'
      : `SELECT ${keys.join(', ')}, ${metrics} FROM ${fromClause} WHERE ${where}
         GROUP BY ${query.groupBy.map((g) => `k_${g}`).join(', ')} ORDER BY ${order.join(', ')}` +
        (query.limit !== null ? ` LIMIT ${Number(query.limit) + 1}` : '');
  return { totals, groups: { sql: groupSql, params: query.groupBy.length === 0 ? [] : params } };
}

export function eventsSql(query: EventsQuery): Sql {
  const params: unknown[] = [];
  const clauses = filterClauses(query.filters, params);
  if (query.from !== null) clauses.push('ts >= ?'), params.push(query.from);
  if (query.to !== null) clauses.push('ts < ?'), params.push(query.to);
  if (query.after) clauses.push('(ts < ? OR (ts = ? AND seq < ?))'), params.push(query.after.ts, query.after.ts, query.after.seq);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  params.push(query.limit + 1);
  return { sql: `SELECT * FROM usage_events ${where} ORDER BY ts DESC, seq DESC LIMIT ?`, params };
}
