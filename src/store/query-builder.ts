import type { AggregateQuery, Dimension, Filters, GroupKey, Source, TimeBucket } from './types.js';
import { ROLLUP_DIMENSIONS } from './types.js';
import { formatOffset, type ZoneSegment } from '../zone-offset.js';
import { CARRIED_ROWS, exactSplit, metricParts, orderTerms, regrouped, selectList, type SqlValue, type SumPart } from './sums.js';

/**
 * The report queries, written once in the SQL both backends share (`?` placeholders, CASE, COALESCE,
 * aggregate FILTER, FALSE). What differs per backend (time bucket expressions, the run index, the
 * rollup's first grouping step) comes from its dialect in sqlite-queries.ts or postgres-queries.ts.
 */

/** Query text and its bound values. Identifiers only ever come from the maps below, never from input. */
export interface Sql {
  sql: string;
  params: unknown[];
}
export type SqlRow = Record<string, SqlValue>;

/** A report query and the metric parts its rows carry. */
export interface AggregateSql extends Sql {
  parts: SumPart[];
}

export interface SqlDialect {
  /** The UTC day of `ts` as the rollup's `day` column stores it. */
  utcDay: (ts: string) => string;
  /** Buckets of the rollup, from its UTC `day` column; weeks start on Monday (ISO 8601). */
  rollupBucket: Record<'day' | 'week' | 'month', string>;
  /**
   * What to group rollup rows by for each bucket, `rollupBucket` then being made of it once per
   * group (PostgreSQL: to_char per row cost 30 days by agent × day 1.8 ms of its 8.2, 60 days by
   * project × week 3.8 of 9.2).
   */
  rollupBucketGroup?: Record<'day' | 'week' | 'month', string>;
  /** The raw table as a report grouped by run should read it (SQLite needs telling to use the run index). */
  rawTableByRun: string;
  /**
   * The run index holds only events with a run (SQLite, migration 0015). A raw report by run reads
   * the rest (its `''` group) from `runless(spans, events)`: the events without a run that meet
   * `events`, in the hours the rollup rows meeting `spans` say hold such events. Binds the report's
   * start and end, then `spans`' values, then `events`'.
   */
  runless?: (spans: string, events: string) => string;
  /** A filter to run `''` alone as the time index answers it (SQLite, migration 0015). */
  runlessFilter?: string;
  /**
   * Group rollup rows first by the leading part of the rollup key a report needs (see
   * `rollupKeyPrefix`): SQLite groups by sorting and gains. PostgreSQL hashes, and the extra step
   * cost it more than it saved (30 days by model over 200,000 events: 20-24 ms without, 46-48 with).
   */
  pregroupsRollup: boolean;
  /** Buckets of raw events, from `local` (epoch seconds shifted to local time); hours end in `suffix`. */
  rawBucket: Record<TimeBucket, (local: string, suffix: string) => string>;
  /**
   * Group raw events first by the local hour or day as a number, and format only the groups:
   * PostgreSQL's to_char per event cost 1.4 s of a month's 1.6 s by hour (250,000 events).
   */
  pregroupsRawBuckets?: boolean;
  /** The rollup keeps each sum in two columns, `<metric>` and `<metric>_hi` (SQLite; see sums.ts). */
  rollupHigh: boolean;
  /** The aggregate a narrow reading sums BIGINTs with in place of SUM, wide reading SUM (PostgreSQL; see sums.ts). */
  narrowSum?: string;
  /** The rollup says which hours of its day hold its events, and which hold events without a run (SQLite, migrations 0014 and 0015; see eventDaysSql). */
  rollupHours: boolean;
  /**
   * `column` is one of a list of values bound as ONE parameter (`param`), so a list of any length
   * stays within the database's limit on bound variables (SQLite: 32,766).
   */
  inList: { sql: (column: string) => string; param: (values: readonly string[]) => unknown };
  /** `columns`, together, are one of a list of tuples, bound as one parameter per column at most (see inList). */
  inTuples: { sql: (columns: readonly string[]) => string; params: (tuples: readonly (readonly string[])[], width: number) => unknown[] };
}

const COLUMN: Record<Dimension, string> = {
  project: 'project', agent: 'agent_id', model: 'model', provider: 'provider', task: 'task_label',
  run: 'run_id', operation: 'operation', status: 'status', session: 'session_id', user: 'user_id',
  cost_source: 'cost_source',
};

/** `CASE WHEN ts >= ? THEN ? ... END`, latest segment first; one segment needs no CASE. */
function piecewise(zone: ZoneSegment[], value: (s: ZoneSegment) => number | string, type: 'INTEGER' | 'TEXT', params: unknown[]): string {
  // Typed so that a backend which infers parameter types (PostgreSQL) knows what a bare `?` holds.
  const slot = `CAST(? AS ${type})`;
  if (zone.length === 1) {
    params.push(value(zone[0]!));
    return slot;
  }
  const arms = zone.slice(1).reverse().map((s) => {
    params.push(s.from, value(s));
    return `WHEN ts >= ? THEN ${slot}`;
  });
  params.push(value(zone[0]!));
  return `(CASE ${arms.join(' ')} ELSE ${slot} END)`;
}

const UTC: ZoneSegment[] = [{ from: Number.MIN_SAFE_INTEGER, offsetMinutes: 0 }];

function groupExpression(query: AggregateQuery, key: GroupKey, dialect: SqlDialect, params: unknown[]): string {
  if (key in COLUMN) return COLUMN[key as Dimension];
  if (query.source === 'rollup') {
    const bucket = (dialect.rollupBucket as Partial<Record<TimeBucket, string>>)[key as TimeBucket];
    if (!bucket || query.zone) throw new Error(`the rollup cannot group by ${key}${query.zone ? ' in a time zone' : ''}`);
    return bucket;
  }
  const { local, suffix } = localTime(query, key as TimeBucket, params);
  return dialect.rawBucket[key as TimeBucket](local, suffix);
}

/** Epoch seconds in the query's zone, and for hours the zone's offset as text. */
function localTime(query: AggregateQuery, key: TimeBucket, params: unknown[]): { local: string; suffix: string } {
  const zone = query.zone ?? UTC;
  const local = `ts / 1000 + ${piecewise(zone, (s) => s.offsetMinutes * 60, 'INTEGER', params)}`;
  const suffix = key === 'hour' ? piecewise(zone, (s) => formatOffset(s.offsetMinutes), 'TEXT', params) : '';
  return { local, suffix };
}

/**
 * Raw events grouped by each dimension and, for each time bucket, by the local hour or day it
 * starts in (with the hour's offset): the groups the outer query then formats and sums again.
 */
function rawBucketGroups(query: AggregateQuery, table: string, where: (params: unknown[]) => string, parts: readonly SumPart[], params: unknown[]): string {
  const columns = query.groupBy.flatMap((g) => {
    if (g in COLUMN) return [`${COLUMN[g as Dimension]} AS k_${g}`];
    const { local, suffix } = localTime(query, g as TimeBucket, params);
    const seconds = g === 'hour' ? 3600 : 86_400;
    return [`(${local}) / ${seconds} * ${seconds} AS b_${g}`, ...(suffix ? [`${suffix} AS x_${g}`] : [])];
  });
  const names = columns.map((c) => c.slice(c.lastIndexOf(' AS ') + 4));
  return `(SELECT ${columns.join(', ')}, ${selectList(parts)} FROM ${table} WHERE ${where(params)} GROUP BY ${names.join(', ')}) AS bucketed`;
}

export function filterClauses(filters: Filters, dialect: SqlDialect, params: unknown[]): string[] {
  return Object.entries(filters).flatMap(([dimension, values]) => {
    if (!values) return [];
    const column = COLUMN[dimension as Dimension];
    // An empty list is a filter no value passes (e.g. a Grafana regex that matched nothing).
    if (values.length === 0) return ['FALSE'];
    if (dimension === 'run' && values.length === 1 && values[0] === '' && dialect.runlessFilter) return [dialect.runlessFilter];
    // The run index holds only events with a run (SQLite 0015, PostgreSQL 0010): a planner takes
    // it only when the query says so in the index's own words.
    const indexed = dimension === 'run' && !values.includes('') ? [RUN_NAMED] : [];
    // One value is an equality, which lets the planner read an index in its order (events by ts).
    if (values.length === 1) {
      params.push(values[0]);
      return [`${column} = ?`, ...indexed];
    }
    params.push(dialect.inList.param(values));
    return [dialect.inList.sql(column), ...indexed];
  });
}

/** The run index's condition (migration 0015), as a query must state it for SQLite to use the index. */
const RUN_NAMED = "run_id <> ''";

function tuplesClause({ dimensions, values }: NonNullable<AggregateQuery['tuples']>, dialect: SqlDialect, params: unknown[]): string {
  if (values.length === 0) return 'FALSE';
  params.push(...dialect.inTuples.params(values, dimensions.length));
  return dialect.inTuples.sql(dimensions.map((d) => COLUMN[d]));
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function whereClause(query: AggregateQuery, dialect: SqlDialect, params: unknown[]): string {
  const clauses =
    query.source === 'rollup'
      ? ['day >= ?', 'day < ?']
      : ['ts >= ?', 'ts < ?'];
  params.push(...(query.source === 'rollup' ? [utcDay(query.from), utcDay(query.to)] : [query.from, query.to]));
  return [...clauses, ...conditions(query, dialect, params)].join(' AND ');
}

/** What the query's rows meet besides its range. */
function conditions(query: AggregateQuery, dialect: SqlDialect, params: unknown[]): string[] {
  const clauses = filterClauses(query.filters, dialect, params);
  if (query.tuples) clauses.push(tuplesClause(query.tuples, dialect, params));
  if (query.runs?.from !== undefined) {
    clauses.push('run_id >= ?');
    params.push(query.runs.from);
  }
  if (query.runs?.below !== undefined) {
    clauses.push('run_id < ?');
    params.push(query.runs.below);
  }
  return clauses;
}

const TABLE = { rollup: 'usage_daily', raw: 'usage_events' } as const;

/** The rollup's primary key, in its order (both backends). */
export const ROLLUP_KEY = ['day', 'project', 'agent_id', 'model', 'provider', 'task_label'];

/**
 * The leading part of the rollup's key that holds every grouped column, or null when that is the
 * whole key. SQLite groups by sorting; grouping first by this part, which it reads in key order
 * without sorting, leaves far fewer rows to sort: a month's 28,800 rollup rows shrink to a few
 * thousand for a report by model and to 30 for one by week (docs/benchmarks.md has the timings).
 */
function rollupKeyPrefix(groupBy: readonly GroupKey[]): string[] | null {
  const deepest = Math.max(...groupBy.map((g) => ROLLUP_KEY.indexOf(g in COLUMN ? COLUMN[g as Dimension] : 'day')));
  return deepest < ROLLUP_KEY.length - 1 ? ROLLUP_KEY.slice(0, deepest + 1) : null;
}

/**
 * The groups after `after` in the order (its metric, then the one grouped dimension): a page of a
 * ranked list. The metric is compared exactly, its value bound as a decimal: a sum can pass 2^53
 * (and on PostgreSQL 2^63), where a JavaScript number or a bound integer would no longer hold it.
 */
function afterClause(query: AggregateQuery, parts: readonly SumPart[], order: NonNullable<AggregateQuery['order']>, after: NonNullable<AggregateQuery['after']>, params: unknown[]): string {
  const [key, ...rest] = query.groupBy;
  if (!key || rest.length > 0 || !(key in COLUMN)) throw new Error('a page after a group needs exactly one dimension to group by');
  // HAVING cannot name a result column on PostgreSQL: the aggregates themselves.
  const terms = orderTerms(parts, order.by, 'aggregate');
  const values = exactSplit(after.value, terms.length);
  for (const value of values) params.push(String(value), String(value));
  params.push(after.key);
  // SQLite's CAST to NUMERIC gives an INTEGER where the value fits, exact; a larger one is above
  // every sum it can hold either way.
  const slot = 'CAST(? AS NUMERIC)';
  const comparison = terms.reduceRight(
    (later, term) => `(${term} ${order.dir === 'desc' ? '<' : '>'} ${slot} OR (${term} = ${slot} AND ${later}))`,
    `${COLUMN[key as Dimension]} > ?`,
  );
  return ` HAVING ${comparison}`;
}

/**
 * A table a backend keeps beside the rollup that answers some questions from fewer rows (PostgreSQL;
 * see postgres-summaries.ts): the rollup's metric columns, keyed by a UTC `day` (read as the
 * rollup is) or by `ts`, the first millisecond of a slot no bucket of the question cuts (read as
 * raw events are).
 */
export interface SummaryTable {
  name: string;
  keyedBy: 'day' | 'ts';
}

/** The query as its table is read (a summary's by its key), the table, and whose metric columns it has. */
function reading(query: AggregateQuery, summary: SummaryTable | null | undefined): { query: AggregateQuery; table: string; columns: Source } {
  if (!summary) return { query, table: TABLE[query.source], columns: query.source };
  return { query: { ...query, source: summary.keyedBy === 'day' ? 'rollup' : 'raw' }, table: summary.name, columns: 'rollup' };
}

/**
 * The totals and the groups of a report. `wide`: metrics read in overflow-proof pieces (SQLite,
 * when a narrow sum overflows or the range holds a rollup row that carried; see sums.ts).
 * `summaries`: the tables that answer the groups or the totals in place of their source's.
 */
export function aggregateSql(
  original: AggregateQuery, dialect: SqlDialect, wide = false,
  summaries: { groups?: SummaryTable | null; totals?: SummaryTable | null } = {},
): { totals: AggregateSql; groups: AggregateSql } {
  // A half of the runs (split-report.ts) still has the whole report's totals.
  const totalsRead = reading({ ...original, runs: undefined, source: original.totalsSource ?? original.source }, summaries.totals);
  const totalParams: unknown[] = [];
  const totalParts = metricParts(totalsRead.columns, dialect.rollupHigh, wide, dialect.narrowSum);
  const totals = {
    sql: `SELECT ${selectList(totalParts)} FROM ${totalsRead.table} WHERE ${whereClause(totalsRead.query, dialect, totalParams)}`,
    params: totalParams,
    parts: totalParts,
  };

  const { query, table: read, columns } = reading(original, summaries.groups);
  const byRun = !summaries.groups && query.source === 'raw' && query.groupBy.includes('run');
  const table = byRun ? dialect.rawTableByRun : read;
  const params: unknown[] = [];
  const tableParts = metricParts(columns, dialect.rollupHigh, wide, dialect.narrowSum);
  if (byRun && dialect.runless) return { totals, groups: runGroupsSql(query, dialect, dialect.runless, tableParts, params) };
  const regroup = !wide && dialect.narrowSum ? dialect.narrowSum : 'SUM';
  const bucketed = dialect.pregroupsRawBuckets && query.source === 'raw' && query.groupBy.some((g) => !(g in COLUMN));
  if (bucketed) {
    const keys = query.groupBy.map((g) => (g in COLUMN ? `k_${g}` : `${dialect.rawBucket[g as TimeBucket](`b_${g}`, `x_${g}`)} AS k_${g}`));
    return { totals, groups: groupsSql(query, keys, rawBucketGroups(query, table, (p) => whereClause(query, dialect, p), tableParts, params), regrouped(tableParts, regroup), params) };
  }
  const keys = query.groupBy.map((g) => `${groupExpression(query, g, dialect, params)} AS k_${g}`);
  const where = whereClause(query, dialect, params);
  const prefix = dialect.pregroupsRollup && !summaries.groups && query.source === 'rollup' && query.groupBy.length > 0 ? rollupKeyPrefix(query.groupBy) : null;
  const parts = prefix ? regrouped(tableParts, regroup) : tableParts;
  const rows = prefix
    ? `(SELECT ${prefix.join(', ')}, ${selectList(tableParts)} FROM ${table} WHERE ${where} GROUP BY ${prefix.join(', ')}) AS pregrouped`
    : `${table} WHERE ${where}`;
  const bucketGroups = query.source === 'rollup' ? dialect.rollupBucketGroup as Partial<Record<GroupKey, string>> | undefined : undefined;
  return { totals, groups: groupsSql(query, keys, rows, parts, params, query.groupBy.map((g) => bucketGroups?.[g] ?? `k_${g}`)) };
}

/**
 * A raw report's groups by run where the run index holds only the events with a run (see
 * `SqlDialect.runless`): theirs from that index, and, unless the report leaves run `''` out, those
 * of the events without one, grouped again with them.
 */
function runGroupsSql(query: AggregateQuery, dialect: SqlDialect, runless: NonNullable<SqlDialect['runless']>, parts: SumPart[], params: unknown[]): AggregateSql {
  const { from, below } = query.runs ?? {};
  const runlessRead = (!query.filters.run || query.filters.run.includes('')) && (from === undefined || from === '') && below !== '';
  const runsRead = !query.filters.run || query.filters.run.some((run) => run !== '');
  // Inside the union a dimension is named as its column, which a page's HAVING compares (afterClause).
  const inner = (g: GroupKey) => (runlessRead && g in COLUMN ? COLUMN[g as Dimension] : `k_${g}`);
  const keys = (run: string) => query.groupBy.map((g) => `${g === 'run' ? run : groupExpression(query, g, dialect, params)} AS ${inner(g)}`);
  const runs = () => `${dialect.rawTableByRun} WHERE ${whereClause(query, dialect, params)} AND ${RUN_NAMED}`;
  if (!runlessRead) return groupsSql(query, keys('run_id'), runs(), parts, params);

  // Grouped by position: by name, `run_id` would be the table's column in the second part, not its
  // `''`. That part is not grouped by its `''`, which would sort every event to find one group: with
  // no other key it is one row, or none when it holds no event.
  const grouped = (groupKeys: string[], rows: string, constant?: number) => {
    const positions = groupKeys.flatMap((_, i) => (i === constant ? [] : [i + 1]));
    return `SELECT ${groupKeys.join(', ')}, ${selectList(parts)} FROM ${rows} ${positions.length > 0 ? `GROUP BY ${positions.join(', ')}` : 'HAVING COUNT(*) > 0'}`;
  };
  const runGroups = runsRead ? [grouped(keys('run_id'), runs())] : [];
  const runlessKeys = keys("''");
  params.push(query.from, query.to, utcDay(query.from), utcDay(query.to - 1));
  // The rollup rows of the range's days, of the dimensions the report filters by where the rollup has them.
  const rollupFilters = Object.fromEntries(Object.entries(query.filters).filter(([d]) => ROLLUP_DIMENSIONS.has(d as Dimension)));
  const spans = ['day >= ?', 'day <= ?', ...filterClauses(rollupFilters, dialect, params)].join(' AND ');
  // Whatever else the report asks of its events, but their run, which is `''` here.
  const events = ['TRUE', ...conditions({ ...query, filters: { ...query.filters, run: undefined }, runs: undefined }, dialect, params)].join(' AND ');
  const pieces = [...runGroups, grouped(runlessKeys, runless(spans, events), query.groupBy.indexOf('run'))];
  return groupsSql(query, query.groupBy.map((g) => `${inner(g)} AS k_${g}`), `(${pieces.join(' UNION ALL ')}) AS by_run`, regrouped(parts, 'SUM'), params);
}

/**
 * The groups' query over `rows` (a table and its WHERE, or a subquery), ordered, paged and limited;
 * grouped by `groupTerms`, each key's result column unless given.
 */
function groupsSql(query: AggregateQuery, keys: string[], rows: string, parts: SumPart[], params: unknown[], groupTerms = query.groupBy.map((g) => `k_${g}`)): AggregateSql {
  const keyOrder = query.groupBy.map((g) => `k_${g} ASC`);
  const having = query.after && query.order ? afterClause(query, parts, query.order, query.after, params) : '';
  const dir = query.order?.dir.toUpperCase();
  const order = query.order ? [...orderTerms(parts, query.order.by, 'column').map((term) => `${term} ${dir}`), ...keyOrder] : keyOrder;
  const groupSql =
    query.groupBy.length === 0
      ? 'SELECT 1 WHERE FALSE'
      : `SELECT ${keys.join(', ')}, ${selectList(parts)} FROM ${rows}
         GROUP BY ${groupTerms.join(', ')}${having} ORDER BY ${order.join(', ')}` +
        (query.limit !== null ? ` LIMIT ${Number(query.limit) + 1}` : '');
  return { sql: groupSql, params: query.groupBy.length === 0 ? [] : params, parts };
}

/**
 * Whether the report reads rollup rows that carried past 2^62 (SQLite; see sums.ts): a probe of
 * the partial index usage_daily_carried, which holds no row unless sums went that far. Null when
 * the report reads no such rollup.
 */
export function carriedRollupSql(query: AggregateQuery, dialect: SqlDialect): Sql | null {
  if (!dialect.rollupHigh || (query.source !== 'rollup' && query.totalsSource !== 'rollup')) return null;
  return {
    sql: `SELECT EXISTS (SELECT 1 FROM usage_daily INDEXED BY usage_daily_carried WHERE (${CARRIED_ROWS}) AND day >= ? AND day < ?)`,
    params: [utcDay(query.from), utcDay(query.to)],
  };
}
