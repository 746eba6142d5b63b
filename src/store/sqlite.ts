import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { UsageRecord } from '../event/schema.js';
import { PACKAGE_ROOT } from '../paths.js';
import { migrationName, readMigrations } from './migrations.js';
import { pinOrderMismatch } from './pin-order.js';
import type { SqlRow } from './query-builder.js';
import { rebuildRollupSql, rollupDiffSql } from './rollup-check-sql.js';
import { batchInserter, openSqlite, outboxWriter, type OutboxWrite, type OutboxWritten, type SqliteOptions } from './sqlite-connection.js';
import { assertSameFiles } from './sqlite-file-identity.js';
import { stalePage, STREAMS_PAGE_SQL } from './metric-streams.js';
import { METRIC_STREAMS_SQL, PROBE_WRITE_SQL, PRUNE_STREAMS_SQL, PROJECT_SQL, SQLITE_DIALECT } from './sqlite-queries.js';
import { projectFromRow, READ_CACHE_KIB, sqliteReads, type ReadName, type SqliteReads } from './sqlite-reads.js';
import { SqliteReadThreads } from './sqlite-read-threads.js';
import { SqliteWriteThreads } from './sqlite-threads.js';
import { SqliteBudgets } from './sqlite-budgets.js';
import { compareBinary, mergeHalves, mergeRunHalves, splitHalves, splitRuns } from './split-report.js';
import { fitting, OUTBOX_SIZE_SQL, outboxRow } from './outbox.js';
import { NO_RETRY, retrying, type InsertRetry } from './retry.js';
import type {
  AggregateQuery, AggregateResult, BatchExtras, CommittedStreamPoint, EventsPage, InsertParts, OutboxEntry, OutboxRow, OutboxSize, OutboxTake, EventsQuery, PinOrderMismatch, Project, ProjectChanges, ProjectsQuery,
  RepriceQuery, RepriceResult, StoredEvent, Store, VerifyResult,
} from './types.js';

interface SqliteStoreOptions extends SqliteOptions {
  /**
   * Commit inserts on a thread of their own, with checkpoints on another (the service). Off, they
   * run on the calling thread with SQLite's automatic checkpoints, as a simple app would.
   */
  writeThreads: boolean;
  /** Run reports and lists on read threads (sqlite-read-threads.ts); off, on the calling thread. */
  readThreads: boolean;
  /** For commands that only read (verify, backup): an existing file, opened read-only. */
  readOnly: boolean;
  /** Events committed in one transaction at most, when the insert thread commits several batches together. */
  maxBatchEvents: number;
}

const DEFAULTS: SqliteStoreOptions = { synchronous: 'FULL', busyTimeoutMs: 250, writeThreads: true, readThreads: true, readOnly: false, maxBatchEvents: 5_000 };
const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations');
/** Outbox deletes are retried briefly; one that still fails leaves its rows to be sent again. */
const OUTBOX_RETRY: InsertRetry = { forMs: 2_000, onFailure: () => {} };
/** The cut below which only run `''` falls: every other run_id is at least one character. */
const RUNLESS_ONLY = '\u0000';
/** Times of a report's range whose events' runs give its middle run (see runMiddle). */
const RUN_SAMPLES = 63;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly insertsInFlight: number;
  private readonly db: Database.Database;
  private readonly insert: (records: readonly UsageRecord[], retry: InsertRetry, extras?: BatchExtras) => Promise<boolean[]>;
  private readonly threads: SqliteWriteThreads | undefined;
  readonly budgets: SqliteBudgets;
  private readonly writeOutbox: (write: OutboxWrite) => Promise<OutboxWritten>;
  private readonly readThreads: SqliteReadThreads | undefined;
  private readonly reads: SqliteReads;
  private firstRunAt: Database.Statement | undefined;

  constructor(file: string, settings: Partial<SqliteStoreOptions> = {}) {
    const options = { ...DEFAULTS, ...settings };
    const inMemory = file === ':memory:';
    if (!inMemory && !options.readOnly) mkdirSync(dirname(file), { recursive: true });
    this.db = openSqlite(file, options, options.readOnly);
    this.db.pragma(`cache_size = -${READ_CACHE_KIB}`);
    this.budgets = new SqliteBudgets(this.db);
    this.reads = sqliteReads(this.db);
    // An in-memory database exists only for its own connection: a thread would open another one.
    if (options.writeThreads && !inMemory && !options.readOnly) {
      const threads = (this.threads = new SqliteWriteThreads(file, options, options.maxBatchEvents));
      this.insert = (records, retry, extras) => threads.insert(records, retry, extras);
      this.writeOutbox = (write) => threads.writeOutbox(write, OUTBOX_RETRY);
      // Every batch goes to the insert thread as it comes: the thread commits those that arrived
      // during a commit together in the next (group commit), and never idles while the main thread
      // is busy elsewhere before it reads a reply and sends more.
      this.insertsInFlight = Number.POSITIVE_INFINITY;
    } else {
      this.insertsInFlight = 1;
      let insert: ReturnType<typeof batchInserter> | undefined;
      this.insert = (records, retry, extras) => retrying(retry, () => (insert ??= batchInserter(this.db))(records, extras));
      let writeOutbox: ReturnType<typeof outboxWriter> | undefined;
      this.writeOutbox = (write) => retrying(OUTBOX_RETRY, () => (writeOutbox ??= outboxWriter(this.db))(write));
    }
    if (options.readThreads && !inMemory && !options.readOnly) this.readThreads = new SqliteReadThreads(file, options);
  }

  private async read<R extends ReadName>(read: R, query: Parameters<SqliteReads[R]>[0]): Promise<ReturnType<SqliteReads[R]>> {
    if (this.readThreads) return this.readThreads.read(read, query);
    return (this.reads[read] as (query: Parameters<SqliteReads[R]>[0]) => ReturnType<SqliteReads[R]>)(query);
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

  insertBatch(records: readonly UsageRecord[], retry = NO_RETRY, extras?: BatchExtras): Promise<boolean[]> {
    return this.insert(records, retry, extras);
  }

  /** Only with the insert thread, which can begin the transaction before the last part comes. */
  insertInParts(retry: InsertRetry): InsertParts | undefined {
    return this.threads?.insertInParts(retry);
  }

  async readMetricStreams(streams: readonly string[]): Promise<Map<string, CommittedStreamPoint>> {
    const rows = this.db.prepare(METRIC_STREAMS_SQL).all(JSON.stringify(streams)) as (CommittedStreamPoint & { stream: string })[];
    return new Map(rows.map(({ stream, ...point }) => [stream, point]));
  }

  async pruneMetricStreams(before: number, after: string, maxRows: number): Promise<{ deleted: number; last: string | null }> {
    const { stale, last } = stalePage(this.db.prepare(STREAMS_PAGE_SQL).all(after, maxRows) as { stream: string; updated_at: number }[], before, maxRows);
    return { deleted: stale.length === 0 ? 0 : this.db.prepare(PRUNE_STREAMS_SQL).run(JSON.stringify(stale), before).changes, last };
  }

  async forwardOutbox(signal: OutboxEntry['signal'], take: OutboxTake, deliver: (rows: OutboxRow[]) => Promise<number>): Promise<number | null> {
    // Reads never wait in WAL mode; the bodies are read only for the rows that fit.
    const sizes = this.db.prepare('SELECT seq, bytes FROM forward_outbox WHERE signal = ? ORDER BY seq LIMIT ?').raw().all(signal, take.maxEntries) as [number, number][];
    const seqs = fitting(sizes, take.maxBytes);
    if (seqs.length === 0) return 0;
    const last = seqs[seqs.length - 1]!;
    const rows = (this.db.prepare('SELECT seq, encoding, created_at, body FROM forward_outbox WHERE signal = ? AND seq BETWEEN ? AND ? ORDER BY seq').all(signal, seqs[0], last) as SqlRow[])
      .map((row) => outboxRow(signal, row));
    const done = await deliver(rows);
    if (done > 0) await this.writeOutbox({ delete: { signal, first: seqs[0]!, last: rows[done - 1]!.seq } });
    return rows.length;
  }

  trimOutbox(maxBytes: number): Promise<{ entries: number; bytes: number }> {
    return this.writeOutbox({ trim: maxBytes });
  }

  async outboxSize(): Promise<OutboxSize> {
    return this.db.prepare(OUTBOX_SIZE_SQL).get() as OutboxSize;
  }

  async aggregate(query: AggregateQuery): Promise<AggregateResult> {
    if (!this.readThreads) return this.read('aggregate', query);
    // A rollup report's days, or a report's runs, in two halves, one on each read thread (split-report.ts).
    const days = splitHalves(query);
    const halves = days ?? splitRuns(query, () => this.runMiddle(query));
    if (!halves) return this.read('aggregate', query);
    const [first, second] = await Promise.all(halves.map((half) => this.readThreads!.read('aggregate', half)));
    if (!days) return mergeRunHalves(query, first!, second!);
    // A half cut short holds too many groups to send them all: one read sends only the limit's.
    if (first!.more || second!.more) return this.read('aggregate', query);
    return mergeHalves(query, first!, second!);
  }

  /**
   * A run_id near the middle of a report's runs: the median run of the events found at RUN_SAMPLES
   * evenly spaced times of its range, each one seek of the time index (well under a ms in all, on
   * the event loop); RUNLESS_ONLY when they find events without a run beside runs. Undefined when
   * fewer than two runs differ and none is `''`. A poor middle costs only time.
   */
  private runMiddle(query: AggregateQuery): string | undefined {
    const first = (this.firstRunAt ??= this.db.prepare('SELECT run_id FROM usage_events WHERE ts >= ? AND ts < ? ORDER BY ts LIMIT 1').pluck());
    const step = (query.to - query.from) / RUN_SAMPLES;
    const runs = new Set<string>();
    let runless = false;
    for (let i = 0; i < RUN_SAMPLES; i++) {
      const run = first.get(Math.floor(query.from + i * step), query.to) as string | undefined;
      if (run) runs.add(run);
      else if (run === '') runless = true;
    }
    // Events without a run are read from the time index in every hour that holds one (migration
    // 0015): spread through the range, they cost what all the events do, so they are a half alone.
    if (runless && runs.size > 0) return RUNLESS_ONLY;
    const sorted = [...runs].sort(compareBinary);
    return sorted.length < 2 ? undefined : sorted[sorted.length >> 1];
  }

  listEvents(query: EventsQuery): Promise<EventsPage> {
    return this.read('listEvents', query);
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

  /**
   * Written under a name of its own and given the backup's name only once SQLite's own check passes
   * on it, so the name never holds a copy that is partial (an interrupted backup) or damaged (damage
   * in the database, or its files changed under it while it was copied).
   */
  async backup(file: string): Promise<void> {
    mkdirSync(dirname(file), { recursive: true });
    const partial = `${file}.partial-${process.pid}`;
    try {
      await this.db.backup(partial);
      const problem = copyProblem(partial);
      if (problem) {
        throw new Error(`backup: the copy fails SQLite's check (${problem}), so it was not kept; the database itself is likely damaged: run tokentally verify, and see docs/operations.md, Backup and restore`);
      }
      if (existsSync(file)) throw new Error(`backup: ${file} appeared while the copy was made; choose a new file`);
      renameSync(partial, file);
    } finally {
      for (const made of [partial, `${partial}-wal`, `${partial}-shm`]) rmSync(made, { force: true });
    }
  }

  listProjects(query: ProjectsQuery): Promise<Project[]> {
    return this.read('listProjects', query);
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
    // Writes go through the insert thread: one that cannot start fails the probe (THREAD_NOT_STARTED).
    await this.threads?.insertThreadReady();
    // It runs on the event loop: a lock held elsewhere is answer enough, not something to wait for.
    const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    try {
      assertSameFiles(this.db);
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
    await Promise.all([this.threads?.close(), this.readThreads?.close()]);
    if (this.db.open) this.db.close();
  }
}

/** SQLite's codes for a file that is damaged or no database. */
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * SQLite's quick check of a copied file: null when it passes, else its first finding. Opened for
 * writing, though it only reads, so that closing it removes the write-ahead log files it made.
 * Failing to open or read it at all (a full disk, I/O errors) is thrown as it is: no finding.
 */
function copyProblem(file: string): string | null {
  let copy: Database.Database | undefined;
  try {
    copy = new Database(file, { fileMustExist: true });
    // Findings come as lines, led by a marker naming the schema ('*** in database main ***').
    const findings = (copy.pragma('quick_check', { simple: false }) as { quick_check: string }[])
      .flatMap((row) => row.quick_check.split('\n'))
      .filter((line) => !line.startsWith('***'));
    const first = findings[0] ?? 'no answer';
    return first === 'ok' ? null : findings.length > 1 ? `${first}; ${findings.length - 1} more` : first;
  } catch (error) {
    if (DAMAGED.test((error as { code?: string }).code ?? '')) return (error as Error).message;
    throw error;
  } finally {
    copy?.close();
  }
}
