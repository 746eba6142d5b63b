import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { UsageRecord } from '../event/schema.js';
import { PACKAGE_ROOT } from '../paths.js';
import { readMigrations } from './migrations.js';
import { aggregateSql, eventsSql, metricsFromRow, type SqlRow } from './sqlite-queries.js';
import { METRIC_NAMES } from './types.js';
import type {
  AggregateQuery, AggregateResult, Metrics, EventsPage, EventsQuery, RepriceQuery, RepriceResult, StoredEvent, Store, VerifyResult,
} from './types.js';

const RECORD_COLUMNS = [
  'id', 'ts', 'project', 'agent_id', 'model', 'provider', 'operation', 'task_label', 'run_id', 'step_id',
  'session_id', 'user_id', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'cost_nanos', 'cost_source', 'duration_ms', 'status', 'attributes', 'received_at',
] as const satisfies readonly (keyof UsageRecord)[];

export interface SqliteOptions {
  synchronous: 'FULL' | 'NORMAL';
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private insertStatement: Database.Statement | undefined;

  constructor(file: string, options: SqliteOptions = { synchronous: 'FULL' }) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous}`);
    // Another process (a CLI command, a second app) may hold the write lock briefly.
    this.db.pragma('busy_timeout = 5000');
    // Each insert fires the rollup trigger, so SQLite keeps a statement journal per row; spilled to
    // a temp file it cost more than the insert itself (2-5x slower batches in the benchmark).
    this.db.pragma('temp_store = MEMORY');
  }

  async migrate(): Promise<string[]> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const applied = new Set(
      this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
    );
    const done: string[] = [];
    for (const m of readMigrations(join(PACKAGE_ROOT, 'migrations'))) {
      if (applied.has(m.version)) continue;
      // IMMEDIATE: two processes starting at once must not both apply the same file.
      this.db.transaction(() => {
        const again = this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
        if (again) return;
        this.db.exec(m.sql);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, new Date().toISOString());
        done.push(`${String(m.version).padStart(4, '0')}_${m.name}`);
      }).immediate();
    }
    return done;
  }

  async insertBatch(records: readonly UsageRecord[]): Promise<boolean[]> {
    this.insertStatement ??= this.db.prepare(
      `INSERT INTO usage_events (${RECORD_COLUMNS.join(', ')})
       VALUES (${RECORD_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
    );
    const statement = this.insertStatement;
    const values = new Array<unknown>(RECORD_COLUMNS.length);
    return this.db.transaction(() =>
      records.map((record) => {
        for (let i = 0; i < RECORD_COLUMNS.length; i++) values[i] = record[RECORD_COLUMNS[i]!];
        return statement.run(values).changes === 1;
      }),
    ).immediate();
  }

  async aggregate(query: AggregateQuery): Promise<AggregateResult> {
    const { totals, groups } = aggregateSql(query);
    const rows = this.db.prepare(groups.sql).all(groups.params) as SqlRow[];
    const more = query.limit !== null && rows.length > query.limit;
    if (more) rows.pop();
    // With every group in hand, their sums are the totals: one pass over the data instead of two.
    const complete = query.groupBy.length > 0 && !more;
    return {
      totals: complete ? sumRows(rows) : metricsFromRow(this.db.prepare(totals.sql).get(totals.params) as SqlRow),
      groups: rows.map((row) => ({
        key: Object.fromEntries(query.groupBy.map((g) => [g, String(row[`k_${g}`] ?? '')])),
        metrics: metricsFromRow(row),
      })),
      more,
    };
  }

  async listEvents(query: EventsQuery): Promise<EventsPage> {
    const { sql, params } = eventsSql(query);
    const rows = this.db.prepare(sql).all(params) as StoredEvent[];
    const more = rows.length > query.limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return { events: rows, next: more && last ? { ts: last.ts, seq: last.seq } : null };
  }

  async reprice(query: RepriceQuery, price: (record: UsageRecord) => void): Promise<RepriceResult> {
    const params: unknown[] = [query.from, query.to];
    const models = query.models ? `AND model IN (${query.models.map(() => '?').join(', ')})` : '';
    if (query.models) params.push(...query.models);
    const select = this.db.prepare(
      `SELECT * FROM usage_events WHERE ts >= ? AND ts < ? AND cost_source <> 'reported' ${models} AND seq > ? ORDER BY seq LIMIT 1000`,
    );
    const update = this.db.prepare('UPDATE usage_events SET cost_nanos = ?, cost_source = ? WHERE seq = ?');
    const result = { examined: 0, changed: 0 };
    // Bounded batches, each its own transaction, so ingestion is never blocked for long.
    for (let after = 0; ; ) {
      const rows = select.all(...params, after) as StoredEvent[];
      if (rows.length === 0) return result;
      this.db.transaction(() => {
        for (const row of rows) {
          const record = { ...row, cost_nanos: 0, cost_source: 'unpriced' as const };
          price(record);
          if (record.cost_nanos !== row.cost_nanos || record.cost_source !== row.cost_source) {
            update.run(record.cost_nanos, record.cost_source, row.seq);
            result.changed++;
          }
        }
      }).immediate();
      result.examined += rows.length;
      after = rows[rows.length - 1]!.seq;
    }
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async verify(): Promise<VerifyResult> {
    const integrity = (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
    const mismatches = this.db.prepare(ROLLUP_DIFF_SQL).pluck().get() as number;
    return { ok: integrity === 'ok' && mismatches === 0, mismatches, integrity };
  }

  async rebuildRollups(): Promise<void> {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM usage_daily');
      this.db.exec(`INSERT INTO usage_daily (${ROLLUP_COLUMNS}) ${RAW_AS_ROLLUP_SQL}`);
    }).immediate();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function sumRows(rows: readonly SqlRow[]): Metrics {
  const sums = Object.fromEntries(METRIC_NAMES.map((m) => [m, 0])) as Record<(typeof METRIC_NAMES)[number], number>;
  for (const row of rows) for (const m of METRIC_NAMES) sums[m] += Number(row[m] ?? 0);
  return sums;
}

/** The rollup as it should be, computed from raw: the same query verifies and rebuilds. */
const RAW_AS_ROLLUP_SQL = `
  SELECT strftime('%Y-%m-%d', ts / 1000, 'unixepoch') AS day, project, agent_id, model, provider, task_label,
    COUNT(*) AS events, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
    SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens,
    SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost_nanos) AS cost_nanos,
    SUM(CASE WHEN cost_source = 'reported' THEN cost_nanos ELSE 0 END) AS reported_cost_nanos,
    SUM(cost_source = 'unpriced') AS unpriced_events
  FROM usage_events GROUP BY 1, 2, 3, 4, 5, 6`;

const ROLLUP_COLUMNS = `day, project, agent_id, model, provider, task_label, events, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, reported_cost_nanos, unpriced_events`;

/** Rows of the rollup that differ from the raw sums, counted from both sides. */
const ROLLUP_DIFF_SQL = `
  SELECT (SELECT COUNT(*) FROM (${RAW_AS_ROLLUP_SQL} EXCEPT SELECT ${ROLLUP_COLUMNS} FROM usage_daily))
       + (SELECT COUNT(*) FROM (SELECT ${ROLLUP_COLUMNS} FROM usage_daily EXCEPT ${RAW_AS_ROLLUP_SQL}))`;
