import { HOUR_MS } from './events-sql.js';
import { ROLLUP_KEY, type SqlDialect } from './query-builder.js';
import { rollupFromRaw, rollupMetricColumns, selectList } from './sums.js';

/** What `verify` and `rebuild-rollups` run against usage_daily, in the SQL both backends share. */

/**
 * Where the raw events are complete: read inside each statement, so a prune committing meanwhile
 * can never make a verify or a rebuild work from a stale horizon.
 */
const HORIZON = 'COALESCE((SELECT horizon FROM raw_retention WHERE id = 1), 0)';

const ROLLUP_KEY_COLUMNS = ROLLUP_KEY.join(', ');

/** The rollup's masks of UTC hours (SQLite, migrations 0014 and 0015), each with the bit an event sets in its hour: every event, and those without a run. */
const HOUR_MASKS = [['hours', '1'], ['runless_hours', "(run_id = '')"]] as const;
const hourMasks = (dialect: SqlDialect) => (dialect.rollupHours ? HOUR_MASKS : []);

/**
 * The rollup as it should be, computed from the raw events kept: those from the retention horizon
 * on (older days exist only as rollups). The same query verifies and rebuilds. Its sums are read
 * so that they cannot overflow, however many events a rollup key holds (see sums.ts).
 */
function rawAsRollupSql(dialect: SqlDialect): string {
  const { parts, columns } = rollupFromRaw(dialect.rollupHigh);
  const masks = hourMasks(dialect);
  const hours = masks.map(([name, bit]) => `SUM(DISTINCT ${bit} << (ts / ${HOUR_MS} % 24)) AS ${name}`);
  return `SELECT ${ROLLUP_KEY_COLUMNS}, ${[...columns, ...masks.map(([name]) => name)].join(', ')} FROM (
    SELECT ${dialect.utcDay('ts')} AS day, project, agent_id, model, provider, task_label, ${[selectList(parts), ...hours].join(', ')}
    FROM usage_events WHERE ts >= ${HORIZON} GROUP BY 1, 2, 3, 4, 5, 6) AS per_key`;
}

const rollupColumns = (dialect: SqlDialect) =>
  [ROLLUP_KEY_COLUMNS, ...rollupMetricColumns(dialect.rollupHigh), ...hourMasks(dialect).map(([name]) => name)].join(', ');

/** The rollup rows from the horizon's day on. */
function keptRollupSql(dialect: SqlDialect): string {
  return `SELECT ${rollupColumns(dialect)} FROM usage_daily WHERE day >= ${dialect.utcDay(HORIZON)}`;
}

/** Rollup rows from the horizon on that differ from the raw sums, counted from both sides, as `mismatches`. */
export function rollupDiffSql(dialect: SqlDialect): string {
  const raw = rawAsRollupSql(dialect);
  const kept = keptRollupSql(dialect);
  return `SELECT (SELECT COUNT(*) FROM (${raw} EXCEPT ${kept}) AS missing)
      + (SELECT COUNT(*) FROM (${kept} EXCEPT ${raw}) AS extra) AS mismatches`;
}

/** Rebuilding the rollup from the horizon on: delete those rows, then refill them from raw. */
export function rebuildRollupSql(dialect: SqlDialect): string[] {
  return [
    `DELETE FROM usage_daily WHERE day >= ${dialect.utcDay(HORIZON)}`,
    `INSERT INTO usage_daily (${rollupColumns(dialect)}) ${rawAsRollupSql(dialect)}`,
  ];
}
