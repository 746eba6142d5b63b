import type Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { UsageRecord } from '../event/schema.js';
import { PACKAGE_ROOT } from '../paths.js';
import { migrationName, readMigrations } from './migrations.js';
import { aggregateSql, carriedRollupSql, groupsFromRows, pinOrderMismatch, rebuildRollupSql, rollupDiffSql, totalsFromGroups, type SqlRow } from './query-builder.js';
import { metricsFromRow } from './sums.js';
import { batchInserter, openSqlite, type SqliteOptions } from './sqlite-connection.js';
import { listProjectsSql, PROBE_WRITE_SQL, PROJECT_SQL, SQLITE_DIALECT } from './sqlite-queries.js';
import { readEventsPage } from './sqlite-events.js';
import { SqliteWriteThreads } from './sqlite-threads.js';
import { NO_RETRY, retrying, type InsertRetry } from './retry.js';
import type {
  AggregateQuery, AggregateResult, EventsPage, EventsQuery, PinOrderMismatch, Project, ProjectChanges, ProjectsQuery,
  RepriceQuery, RepriceResult, StoredEvent, Store, VerifyResult,
} from './types.js';

const READ_CACHE_KIB = 32 * 1024;

interface SqliteStoreOptions extends SqliteOptions {
  /**
   * Commit inserts on a thread of their own, with checkpoints on another (the service). Off, they
   * run on the calling thread with SQLite's automatic checkpoints, as a simple app would.
   */
  writeThreads: boolean;
  /** For commands that only read (verify, backup): an existing file, opened read-only. */
  readOnly: boolean;
}

const DEFAULTS: SqliteStoreOptions = { synchronous: 'FULL', busyTimeoutMs: 250, writeThreads: true, readOnly: false };
const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations');

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly insertsInFlight: number;
  private readonly db: Database.Database;
  private readonly insert: (records: readonly UsageRecord[], retry: InsertRetry) => Promise<boolean[]>;
  private readonly threads: SqliteWriteThreads | undefined;

  constructor(file: string, settings: Partial<SqliteStoreOptions> = {}) {
    const options = { ...DEFAULTS, ...settings };
    const inMemory = file === ':memory:';
    if (options.readOnly && !inMemory && !existsSync(file)) throw new Error(`no SQLite database at ${file} (DATABASE_URL)`);
    if (!inMemory && !options.readOnly) mkdirSync(dirname(file), { recursive: true });
    this.db = openSqlite(file, options, options.readOnly);
    // Reports read the month's rollup rows again and again (about 5 MB at a million events a
    // month); in SQLite's default 2 MB cache every report read them anew from the file.
    this.db.pragma(`cache_size = -${READ_CACHE_KIB}`);
    // An in-memory database exists only for its own connection: a thread would open another one.
    if (options.writeThreads && !inMemory && !options.readOnly) {
      const threads = (this.threads = new SqliteWriteThreads(file, options));
      this.insert = (records, retry) => threads.insert(records, retry);
      // The insert thread takes batches in turn: with the next one already waiting there when a
      // commit ends, it does not idle until the main thread has read the reply and sent more.
      this.insertsInFlight = 2;
    } else {
      this.insertsInFlight = 1;
      let insert: ReturnType<typeof batchInserter> | undefined;
      this.insert = (records, retry) => retrying(retry, () => (insert ??= batchInserter(this.db))(records));
    }
  }

  async migrate(): Promise<string[]> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
    const applied = new Set(
      this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[],
    );
    const done: string[] = [];
    for (const m of readMigrations(MIGRATIONS_DIR)) {
      if (applied.has(m.version)) continue;
      // IMMEDIATE: two processes starting at once must not both apply the same file.
      this.db.transaction(() => {
        const again = this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
        if (again) return;
        this.db.exec(m.sql);
        this.db
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(m.version, m.name, new Date().toISOString());
        done.push(migrationName(m));
      }).immediate();
    }
    return done;
  }

  async pendingMigrations(): Promise<string[]> {
    const table = this.db.prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).get();
    const applied = new Set(table ? (this.db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]) : []);
    return readMigrations(MIGRATIONS_DIR).filter((m) => !applied.has(m.version)).map(migrationName);
  }

  insertBatch(records: readonly UsageRecord[], retry = NO_RETRY): Promise<boolean[]> {
    return this.insert(records, retry);
  }

  async aggregate(query: AggregateQuery): Promise<AggregateResult> {
    // One read transaction: totals and groups come from one snapshot, so the groups past the
    // limit ("other" = totals less those shown) add up while the insert thread commits.
    return this.db.transaction(() => {
      const carried = carriedRollupSql(query, SQLITE_DIALECT);
      const wide = carried !== null && this.db.prepare(carried.sql).pluck().get(carried.params) === 1;
      return (wide ? null : this.aggregateRead(query, false)) ?? this.aggregateRead(query, true)!;
    })();
  }

  /** The report read narrow, or wide (see sums.ts); null when a narrow reading overflowed. */
  private aggregateRead(query: AggregateQuery, wide: boolean): AggregateResult | null {
    const { totals, groups } = aggregateSql(query, SQLITE_DIALECT, wide);
    try {
      const result = groupsFromRows(query, this.db.prepare(groups.sql).safeIntegers(wide).all(groups.params) as SqlRow[], groups.parts);
      if (!result) return null;
      const sums = totalsFromGroups(query, result)
        ?? metricsFromRow(this.db.prepare(totals.sql).safeIntegers(wide).get(totals.params) as SqlRow, totals.parts);
      return sums && { totals: sums, ...result };
    } catch (error) {
      if (!wide && (error as Error).message === 'integer overflow') return null;
      throw error;
    }
  }

  async listEvents(query: EventsQuery): Promise<EventsPage> {
    return readEventsPage(this.db, query);
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

  async rawHorizon(): Promise<number | null> {
    return (this.db.prepare('SELECT horizon FROM raw_retention WHERE id = 1').pluck().get() as number | undefined) ?? null;
  }

  async pruneRaw(before: number, maxRows: number): Promise<number> {
    return this.db.transaction(() => {
      const horizon = this.db
        .prepare('INSERT INTO raw_retention (id, horizon) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET horizon = MAX(horizon, excluded.horizon) RETURNING horizon')
        .pluck().get(before) as number;
      return this.db
        .prepare('DELETE FROM usage_events WHERE seq IN (SELECT seq FROM usage_events WHERE ts < ? LIMIT ?)')
        .run(horizon, maxRows).changes;
    }).immediate();
  }

  async backup(file: string): Promise<void> {
    mkdirSync(dirname(file), { recursive: true });
    await this.db.backup(file);
  }

  async listProjects(query: ProjectsQuery): Promise<Project[]> {
    const { sql, params } = listProjectsSql(query);
    return (this.db.prepare(sql).all(params) as SqlRow[]).map(projectFromRow);
  }

  async getProject(id: string): Promise<Project | null> {
    return this.projectById(id);
  }

  async saveProject(id: string, changes: ProjectChanges): Promise<{ project: Project; created: boolean }> {
    return this.db.transaction(() => {
      const created = this.projectById(id) === null;
      const archived = changes.archived === undefined ? null : Number(changes.archived);
      this.db.prepare(PROJECT_SQL.save).run({ id, name: changes.name ?? null, description: changes.description ?? null, archived });
      return { project: this.projectById(id)!, created };
    }).immediate();
  }

  async setPinned(id: string, pinned: boolean): Promise<Project | null> {
    return this.db.transaction(() => {
      this.db.prepare(pinned ? PROJECT_SQL.pin : PROJECT_SQL.unpin).run(id);
      return this.projectById(id);
    }).immediate();
  }

  async reorderPins(ids: readonly string[]): Promise<PinOrderMismatch | null> {
    return this.db.transaction(() => {
      const mismatch = pinOrderMismatch(new Set(this.db.prepare(PROJECT_SQL.pinnedIds).pluck().all() as string[]), ids);
      if (mismatch) return mismatch;
      this.db.prepare(PROJECT_SQL.clearOrder).run();
      const setOrder = this.db.prepare(PROJECT_SQL.setOrder);
      ids.forEach((id, i) => setOrder.run(i + 1, id));
      return null;
    }).immediate();
  }

  private projectById(id: string): Project | null {
    const row = this.db.prepare(PROJECT_SQL.get).get(id) as SqlRow | undefined;
    return row ? projectFromRow(row) : null;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async probeWrite(): Promise<void> {
    // It runs on the event loop: a lock held elsewhere is answer enough, not something to wait for.
    const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      this.db.transaction(() => this.db.prepare(PROBE_WRITE_SQL).run(Date.now())).immediate();
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  async verify(): Promise<VerifyResult> {
    const integrity = (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
    const mismatches = this.db.prepare(rollupDiffSql(SQLITE_DIALECT)).pluck().get() as number;
    return { ok: integrity === 'ok' && mismatches === 0, mismatches, integrity };
  }

  async rebuildRollups(): Promise<void> {
    this.db.transaction(() => {
      for (const sql of rebuildRollupSql(SQLITE_DIALECT)) this.db.exec(sql);
    }).immediate();
  }

  async close(): Promise<void> {
    await this.threads?.close();
    if (this.db.open) this.db.close();
  }
}

function projectFromRow(row: SqlRow): Project {
  return {
    id: String(row.id), name: String(row.name), description: String(row.description),
    archived: row.archived === 1, pinned: row.pinned === 1, pin_order: row.pin_order === null ? null : Number(row.pin_order),
    created_at: String(row.created_at), updated_at: String(row.updated_at),
  };
}
