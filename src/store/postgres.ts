import type pg from 'pg';
import { join } from 'node:path';
import type { UsageRecord } from '../event/schema.js';
import { PACKAGE_ROOT } from '../paths.js';
import { FailureLog } from '../failure-log.js';
import { inTransaction, makePool, withClient, type PoolLimits } from './postgres-client.js';
import { migrationName, readMigrations } from './migrations.js';
import {
  ADD_PARTITIONS_SQL, INSERT_BATCH_SQL, insertBatchParams, METRIC_STREAMS_SQL, MIGRATION_LOCK_KEY, MIGRATIONS_TABLE_SQL, numbered, POSTGRES_DIALECT,
  listProjectsSql, PROBE_WRITE_SQL, PROJECT_SQL, PRUNE_STREAMS_SQL, PRUNE_SUMMARIES_SQL, RAW_HORIZON_SQL, REBUILD_ROLLUPS_SQL, REPRICE_SELECT_SQL,
  REPRICE_UPDATE_SQL, SUMMARY_MISMATCHES_SQL,
} from './postgres-queries.js';
import { inStreamOrder, metricStreamStatement, stalePage, STREAMS_PAGE_SQL, streamMoved } from './metric-streams.js';
import { ReplicaReads } from './postgres-replica.js';
import { pruneBeforeHorizon, retireMonths } from './postgres-retention.js';
import { NO_RETRY, retrying } from './retry.js';
import { readEventRows, slotFilters } from './postgres-events.js';
import { pinOrderMismatch } from './pin-order.js';
import { aggregateSql, type SqlRow } from './query-builder.js';
import { groupsFromRowsInTurns, totalsFromGroups } from './report-rows.js';
import { rollupDiffSql } from './rollup-check-sql.js';
import { metricsFromRow } from './sums.js';
import { eventKey } from './types.js';
import { PostgresBudgets, type Transaction } from './postgres-budgets.js';
import { summariesFor } from './postgres-summaries.js';
import { OUTBOX_SIZE_SQL } from './outbox.js';
import { deliverOutbox, insertOutbox, trimOutbox } from './postgres-outbox.js';
import type {
  AggregateQuery, AggregateResult, BatchExtras, CommittedStreamPoint, EventsPage, OutboxEntry, OutboxRow, OutboxSize, OutboxTake, EventsQuery, PinOrderMismatch, Project, ProjectChanges, ProjectsQuery,
  RepriceQuery, RepriceResult, StoredEvent, Store, VerifyResult,
} from './types.js';

export interface PostgresOptions {
  /** Connections held at most; each collector needs few, as one writer commits at a time. */
  poolMax: number;
  /** For commands that only read (verify): every transaction read-only. */
  readOnly?: boolean;
  /** How long making a connection (or waiting for a free one) may take (DATABASE_CONNECT_TIMEOUT_MS); unset: for ever. */
  connectTimeoutMs?: number;
  /**
   * How long a query may go unanswered before it fails and its connection is dropped
   * (DATABASE_QUERY_TIMEOUT_MS); 0 or unset: for ever. Migrations always wait for ever.
   */
  queryTimeoutMs?: number;
  /** A streaming replica for the reporting app's reads (DATABASE_READ_URL), used while it lags at most `maxReplicaLagMs`. */
  readUrl?: string;
  maxReplicaLagMs?: number;
}

const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations', 'postgres');

/** "bigint out of range": a narrow report sum overflowed (sums.ts). */
const NUMERIC_OUT_OF_RANGE = '22003';

/** How a list that reads slots begins its transaction (see listEvents). */
const SLOTS_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL jit = off';

/** Monthly partitions are added ahead at start and then this often, by every process. */
const PARTITIONS_EVERY_MS = 60 * 60 * 1000;

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  // Two transactions on two pool connections may commit in either order.
  readonly insertsInFlight = 1;
  private readonly pool: pg.Pool;
  readonly budgets: PostgresBudgets;
  private readonly reads: ReplicaReads | null;
  private partitionTimer: NodeJS.Timeout | undefined;
  private readonly limits: PoolLimits;

  constructor(private readonly url: string, options: PostgresOptions) {
    const { poolMax, connectTimeoutMs, queryTimeoutMs = 0, readOnly } = options;
    this.limits = { max: poolMax, connectTimeoutMs, queryTimeoutMs, readOnly };
    this.pool = makePool(url, this.limits);
    this.budgets = new PostgresBudgets(this.pool, (work) => this.transaction(work));
    this.reads = options.readUrl ? new ReplicaReads(this.pool, makePool(options.readUrl, this.limits), options.maxReplicaLagMs ?? 0) : null;
  }

  /** A read of the reporting app: on the replica when there is one fresh enough, else on the primary. */
  private read<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    return this.reads ? this.reads.run(work) : work(this.pool);
  }

  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN', pool = this.pool): Promise<T> {
    return inTransaction(pool, work, begin);
  }

  async migrate(): Promise<string[]> {
    const done: string[] = [];
    // A connection of its own, without the query timeout: a migration may rewrite a large table, and
    // waits for the lock while another process migrates.
    const pool = makePool(this.url, { ...this.limits, max: 1, queryTimeoutMs: 0 });
    try {
      await this.migrateOn(pool, done);
    } finally {
      await pool.end();
    }
    // Not a reason to refuse to start: it may wait for a lock behind a long report or a maintenance
    // command, and until the next try the default partition takes the month's events.
    const partitions = new FailureLog('partitions: adding the coming months');
    const addPartitions = () => partitions.follow(this.addPartitions());
    await addPartitions();
    this.partitionTimer ??= setInterval(() => void addPartitions(), PARTITIONS_EVERY_MS).unref();
    return done;
  }

  private async migrateOn(pool: pg.Pool, done: string[]): Promise<void> {
    await withClient(pool, async (client) => {
      // Collectors starting together queue here; each then sees what the first one applied.
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await client.query(MIGRATIONS_TABLE_SQL);
        const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
        for (const m of readMigrations(MIGRATIONS_DIR)) {
          if (applied.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw new Error(`migration ${m.version}_${m.name} failed: ${(error as Error).message}`);
          }
          done.push(migrationName(m));
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    });
  }

  /**
   * Creates the monthly partitions of usage_events from `from`'s month (default: this one) to two
   * months ahead, and those of months that strays arrived for; a month without its partition still
   * takes events (the default partition). Returns how many it made.
   */
  async addPartitions(from = Date.now()): Promise<number> {
    return (await this.pool.query<{ added: number }>(ADD_PARTITIONS_SQL, [from])).rows[0]!.added;
  }

  async pendingMigrations(): Promise<string[]> {
    // 42P01: no schema_migrations table, so nothing was ever applied.
    const { rows } = await this.pool.query<{ version: number }>('SELECT version FROM schema_migrations').catch((error: { code?: string }) => {
      if (error.code === '42P01') return { rows: [] };
      throw error;
    });
    const applied = new Set(rows.map((r) => r.version));
    return readMigrations(MIGRATIONS_DIR).filter((m) => !applied.has(m.version)).map(migrationName);
  }

  async insertBatch(records: readonly UsageRecord[], retry = NO_RETRY, extras?: BatchExtras): Promise<boolean[]> {
    const moves = inStreamOrder(extras?.metricStreams ?? []);
    const outbox = extras?.outbox ?? [];
    if (records.length === 0 && moves.length === 0 && outbox.length === 0) return [];
    const stored = await retrying(retry, () => this.transaction(async (client) => {
      const now = Date.now();
      for (const update of moves) {
        const { sql, params } = metricStreamStatement(update, now);
        if ((await client.query(numbered(sql), params)).rowCount === 0) throw streamMoved(update);
      }
      const { rows } = records.length === 0 ? { rows: [] } : await client.query<{ project: string; id: string }>(INSERT_BATCH_SQL, insertBatchParams(records));
      // After the events: the outbox's size row is the last lock the transaction takes.
      if (outbox.length > 0) await insertOutbox(client, outbox);
      return new Set(rows.map((r) => eventKey(r.project, r.id)));
    }));
    // Like SQLite row by row: the first occurrence of a new (project, id) is the insert, any repeat a duplicate.
    return records.map((r) => stored.delete(eventKey(r.project, r.id)));
  }

  async readMetricStreams(streams: readonly string[]): Promise<Map<string, CommittedStreamPoint>> {
    const { rows } = await this.pool.query<CommittedStreamPoint & { stream: string }>(METRIC_STREAMS_SQL, [streams]);
    return new Map(rows.map(({ stream, ...point }) => [stream, point]));
  }

  async pruneMetricStreams(before: number, after: string, maxRows: number): Promise<{ deleted: number; last: string | null }> {
    const { rows } = await this.pool.query<{ stream: string; updated_at: string }>(numbered(STREAMS_PAGE_SQL), [after, maxRows]);
    const { stale, last } = stalePage(rows, before, maxRows);
    return { deleted: stale.length === 0 ? 0 : (await this.pool.query(PRUNE_STREAMS_SQL, [stale, before])).rowCount ?? 0, last };
  }

  async forwardOutbox(signal: OutboxEntry['signal'], take: OutboxTake, deliver: (rows: OutboxRow[]) => Promise<number>): Promise<number | null> {
    return this.transaction((client) => deliverOutbox(client, signal, take, deliver));
  }

  async trimOutbox(maxBytes: number): Promise<{ entries: number; bytes: number }> {
    return this.transaction((client) => trimOutbox(client, maxBytes));
  }

  async outboxSize(): Promise<OutboxSize> {
    const { rows: [size] } = await this.pool.query<OutboxSize>(OUTBOX_SIZE_SQL);
    return size!;
  }

  /** Read narrow (sums as BIGINT), and wide only where a sum passed 2^53 or overflowed (sums.ts). */
  async aggregate(query: AggregateQuery): Promise<AggregateResult> {
    return (await this.aggregateRead(query, false)) ?? (await this.aggregateRead(query, true))!;
  }

  /** The report read narrow or wide (see sums.ts); null when a narrow reading cannot give it exactly. */
  private aggregateRead(query: AggregateQuery, wide: boolean): Promise<AggregateResult | null> {
    const { totals, groups } = aggregateSql(query, POSTGRES_DIALECT, wide, summariesFor(query));
    // Inside the read, so a replica's overflow is an answer, not a failed read sent to the primary.
    return this.read(async (pool) => {
      try {
        // One snapshot for both, so the groups past the limit ("other" = totals less those shown) add up.
        return await this.transaction(async (client) => {
          const result = await groupsFromRowsInTurns(query, (await client.query<SqlRow>(numbered(groups.sql), groups.params)).rows, groups.parts);
          if (!result) return null;
          // With every group in hand their sums are the totals (as on SQLite): a raw report then reads its events once.
          const sums = totalsFromGroups(query, result) ?? metricsFromRow((await client.query<SqlRow>(numbered(totals.sql), totals.params)).rows[0]!, totals.parts);
          return sums && { totals: sums, ...result };
        }, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', pool);
      } catch (error) {
        if (!wide && (error as { code?: string }).code === NUMERIC_OUT_OF_RANGE) return null;
        throw error;
      }
    });
  }

  async listEvents(query: EventsQuery): Promise<EventsPage> {
    // Through the slots, one snapshot for the slots and their events. No JIT: the planner cannot know
    // how many events a span (a parameter) holds, guesses thousands per partition, and at ten million
    // events compiled the statement for seconds to read a few hundred rows (docs/benchmarks.md,
    // session 13). A list an index answers is one statement, and needs neither.
    const rows = await this.read((pool) => (slotFilters(query)
      ? this.transaction((client) => readEventRows(client, query), SLOTS_SNAPSHOT, pool)
      : readEventRows(pool, query)));
    const more = rows.length > query.limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return { events: rows, next: more && last ? { ts: last.ts, seq: last.seq } : null };
  }

  async reprice(query: RepriceQuery, price: (record: UsageRecord) => void): Promise<RepriceResult> {
    const result = { examined: 0, changed: 0 };
    // Bounded batches, each its own transaction, so ingestion is never blocked for long.
    for (let after = { ts: Number.MIN_SAFE_INTEGER, seq: 0 }; ; ) {
      const { rows } = await this.pool.query<StoredEvent>(REPRICE_SELECT_SQL, [query.from, query.to, query.models, after.ts, after.seq]);
      if (rows.length === 0) return result;
      const changed = rows.flatMap((row) => {
        const record = { ...row, cost_nanos: 0, cost_source: 'unpriced' as const };
        price(record);
        return record.cost_nanos !== row.cost_nanos || record.cost_source !== row.cost_source ? [record] : [];
      });
      if (changed.length > 0) {
        await this.transaction((client) =>
          client.query(REPRICE_UPDATE_SQL, [changed.map((r) => r.ts), changed.map((r) => r.seq), changed.map((r) => r.cost_nanos), changed.map((r) => r.cost_source)]),
        );
      }
      result.examined += rows.length;
      result.changed += changed.length;
      const last = rows[rows.length - 1]!;
      after = { ts: last.ts, seq: last.seq };
    }
  }

  async listProjects(query: ProjectsQuery): Promise<Project[]> {
    const { sql, params } = listProjectsSql(query);
    return (await this.read((pool) => pool.query<Project>(sql, params))).rows;
  }

  async getProject(id: string): Promise<Project | null> {
    return this.read((pool) => projectById(pool, id));
  }

  async saveProject(id: string, changes: ProjectChanges): Promise<{ project: Project; created: boolean }> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ created: boolean }>(PROJECT_SQL.save, [id, changes.name ?? null, changes.description ?? null, changes.archived ?? null]);
      return { project: (await projectById(client, id))!, created: rows[0]!.created };
    });
  }

  async setPinned(id: string, pinned: boolean): Promise<Project | null> {
    return this.transaction(async (client) => {
      await client.query(PROJECT_SQL.lockPins);
      await client.query(pinned ? PROJECT_SQL.pin : PROJECT_SQL.unpin, [id]);
      return projectById(client, id);
    });
  }

  async reorderPins(ids: readonly string[]): Promise<PinOrderMismatch | null> {
    return this.transaction(async (client) => {
      await client.query(PROJECT_SQL.lockPins);
      const pinned = new Set((await client.query<{ id: string }>(PROJECT_SQL.pinnedIds)).rows.map((r) => r.id));
      const mismatch = pinOrderMismatch(pinned, ids);
      if (mismatch) return mismatch;
      await client.query(PROJECT_SQL.clearOrder);
      await client.query(PROJECT_SQL.setOrder, [ids]);
      return null;
    });
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async probeWrite(): Promise<void> {
    await this.transaction((client) => client.query(PROBE_WRITE_SQL, [Date.now()]));
  }

  async rawHorizon(): Promise<number | null> {
    const { rows } = await this.read((pool) => pool.query<{ horizon: number }>(RAW_HORIZON_SQL));
    return rows[0]?.horizon ?? null;
  }

  /**
   * Raw retention by month (postgres-retention.ts): the horizon moves to the start of `before`'s
   * month, the months wholly before it are detached, then their ids and the strays before it go,
   * `maxRows` at a time; their count is the number of raw events deleted.
   */
  async pruneRaw(before: number, maxRows: number): Promise<number> {
    const transaction: Transaction = (work) => this.transaction(work);
    const deleted = await pruneBeforeHorizon(transaction, await retireMonths(transaction, before), maxRows);
    // The caller stops at the first short batch: the summaries' rows before the horizon go then, as many batches as they take.
    for (let pruned = deleted < maxRows ? maxRows : 0; pruned > 0; ) {
      pruned = (await this.pool.query<{ deleted: number }>(PRUNE_SUMMARIES_SQL, [maxRows])).rows[0]!.deleted;
    }
    return deleted;
  }

  async backup(): Promise<void> {
    throw new Error('tokentally does not copy a PostgreSQL database itself; back it up with pg_dump (e.g. pg_dump --format=custom "$DATABASE_URL" > tokentally.dump)');
  }

  async verify(): Promise<VerifyResult> {
    const { rows } = await this.pool.query<{ mismatches: number }>(rollupDiffSql(POSTGRES_DIALECT));
    const { rows: summaries } = await this.pool.query<{ mismatches: number }>(SUMMARY_MISMATCHES_SQL);
    const mismatches = rows[0]!.mismatches + summaries[0]!.mismatches;
    // Page-level checks belong to PostgreSQL's own tools (amcheck, pg_checksums), not to us.
    return { ok: mismatches === 0, mismatches, integrity: 'not checked on PostgreSQL (use amcheck)' };
  }

  async rebuildRollups(): Promise<void> {
    await this.transaction(async (client) => {
      for (const sql of REBUILD_ROLLUPS_SQL) await client.query(sql);
    });
  }

  async close(): Promise<void> {
    clearInterval(this.partitionTimer);
    for (const pool of [this.pool, this.reads?.replica]) {
      if (pool && !pool.ended && !pool.ending) await pool.end();
    }
  }
}

async function projectById(db: pg.Pool | pg.PoolClient, id: string): Promise<Project | null> {
  return (await db.query<Project>(PROJECT_SQL.get, [id])).rows[0] ?? null;
}
