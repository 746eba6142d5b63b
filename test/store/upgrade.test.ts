import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { postgresAtVersion, sqliteAtVersion } from '../support/old-schema.js';
import { createDatabase, POSTGRES_OPTED_OUT, type TestDatabase } from '../support/postgres.js';
import { idsOfAllPages } from '../support/event-pages.js';
import { usageRecord } from '../support/records.js';
import type { UsageRecord } from '../../src/event/schema.js';

/**
 * A database as the release before ids were unique per project left it (SQLite up to migration
 * 0007, PostgreSQL up to 0003), filled with events through that schema's own statement and
 * triggers, then opened and migrated by this version: every event keeps its row and seq, the
 * rollups stay equal to the raw sums, and the new rules hold on the migrated tables.
 */
const COLUMNS = Object.keys(usageRecord('x')) as (keyof UsageRecord)[];
const OLD_INSERT = `INSERT INTO usage_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (id) DO NOTHING`;
const ROLLUP_COLUMNS = 'day, project, agent_id, model, provider, task_label, events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, reported_cost_nanos, unpriced_events';

/** Events on several days and projects, some with reported costs, some sharing an id (skipped then). */
const oldEvents = (): UsageRecord[] =>
  Array.from({ length: 400 }, (_, i) => usageRecord(`old-${i % 350}`, {
    ts: Date.UTC(2026, 10, 1 + (i % 5), i % 24), project: ['atlas', 'borealis'][i % 2]!, model: ['m1', 'm2', 'm3'][i % 3]!,
    input_tokens: 1000 + i, output_tokens: i, cost_nanos: i % 4 === 0 ? 5000 + i : 0, cost_source: i % 4 === 0 ? 'reported' : 'unpriced',
  }));

interface OldDatabase {
  /** Tables, columns, indexes, constraints and triggers, as text to compare. */
  schema(): Promise<unknown>;
  /** The same for a database this version creates from nothing. */
  freshSchema(): Promise<unknown>;
  exec(sql: string): Promise<void>;
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  open(): Store;
  close(): Promise<void>;
}

async function sqliteAtOldVersion(dir: string): Promise<OldDatabase> {
  const file = join(dir, 'old.db');
  const db = sqliteAtVersion(file, 7);
  const positional = (sql: string) => sql.replace(/\$\d+/g, '?');
  const schemaOf = (conn: Database.Database) =>
    conn.prepare(`SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY type, name`).all();
  return {
    schema: async () => schemaOf(db),
    freshSchema: async () => {
      const fresh = new SqliteStore(join(dir, 'fresh.db'), { writeThreads: false });
      await fresh.migrate();
      await fresh.close();
      const conn = new Database(join(dir, 'fresh.db'));
      try {
        return schemaOf(conn);
      } finally {
        conn.close();
      }
    },
    exec: async (sql) => void db.exec(sql),
    query: async (sql, params = []) => {
      const statement = db.prepare(positional(sql));
      return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
    },
    open: () => new SqliteStore(file),
    close: async () => db.close(),
  };
}

async function postgresAtOldVersion(database: TestDatabase): Promise<OldDatabase> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await postgresAtVersion(client, 3);
  // Partitions are left out: which months exist depends on the day, and an upgraded database keeps
  // its old table as the partition of everything before the upgrade (migration 0010).
  const SCHEMA = `
    WITH partition AS (SELECT oid, relname FROM pg_class WHERE relispartition AND relnamespace = 'public'::regnamespace)
    SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '') AS what
      FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT IN (SELECT relname FROM partition)
    UNION ALL SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT IN (SELECT relname FROM partition)
    UNION ALL SELECT 'constraint', conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace AND conrelid NOT IN (SELECT oid FROM partition)
    UNION ALL SELECT 'trigger', pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'function', pg_get_functiondef(p.oid) FROM pg_proc p WHERE pronamespace = 'public'::regnamespace AND prokind <> 'a'
    UNION ALL SELECT 'aggregate', aggfnoid::regprocedure || ' ' || aggtransfn::regproc || ' ' || aggtranstype::regtype || ' ' || aggcombinefn::regproc
      FROM pg_aggregate JOIN pg_proc p ON p.oid = aggfnoid WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT 'default partition', pg_get_expr(relpartbound, oid) FROM pg_class
      WHERE relispartition AND relnamespace = 'public'::regnamespace AND pg_get_expr(relpartbound, oid) = 'DEFAULT'
    ORDER BY 1, 2`;
  return {
    schema: async () => (await client.query(SCHEMA)).rows,
    freshSchema: async () => {
      const fresh = await createDatabase();
      const freshStore = new PostgresStore(fresh.url, { poolMax: 1 });
      const conn = new pg.Client({ connectionString: fresh.url });
      try {
        await freshStore.migrate();
        await conn.connect();
        return (await conn.query(SCHEMA)).rows;
      } finally {
        await conn.end();
        await freshStore.close();
        await fresh.drop();
      }
    },
    exec: async (sql) => void (await client.query(sql)),
    // Every figure compared here is small; as numbers, both backends' rows compare alike.
    query: async (sql, params = []) =>
      (await client.query(sql, params)).rows.map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v]))),
    open: () => new PostgresStore(database.url, { poolMax: 2 }),
    close: () => client.end(),
  };
}

const BACKENDS = POSTGRES_OPTED_OUT ? (['sqlite'] as const) : (['sqlite', 'postgres'] as const);

describe.each(BACKENDS)('upgrading a %s database from before per-project ids', (backend) => {
  let dir: string;
  let database: TestDatabase | undefined;
  let old: OldDatabase;
  let store: Store;
  let eventsBefore: Record<string, unknown>[];
  let rollupBefore: Record<string, unknown>[];
  let applied: string[];
  const allEvents = `SELECT ${['seq', ...COLUMNS].join(', ')} FROM usage_events ORDER BY seq`;
  const rollup = backend === 'sqlite'
    ? `SELECT ${ROLLUP_COLUMNS} FROM usage_daily ORDER BY day, project, agent_id, model, provider, task_label`
    : `SELECT ${ROLLUP_COLUMNS.replace('day,', "to_char(day, 'YYYY-MM-DD') AS day,")} FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-upgrade-'));
    if (backend === 'postgres') database = await createDatabase();
    old = backend === 'sqlite' ? await sqliteAtOldVersion(dir) : await postgresAtOldVersion(database!);
    for (const record of oldEvents()) await old.query(OLD_INSERT, COLUMNS.map((c) => record[c]));
    // Gaps in seq, as retention leaves them (the first day's raw events pruned, its rollups kept),
    // and a repriced event, so the copy has something to keep.
    await old.exec(`INSERT INTO raw_retention (id, horizon) VALUES (1, ${Date.UTC(2026, 10, 2)})`);
    await old.exec(`DELETE FROM usage_events WHERE ts < ${Date.UTC(2026, 10, 2)}`);
    await old.exec(`UPDATE usage_events SET cost_nanos = 777, cost_source = 'computed' WHERE id = 'old-1'`);
    eventsBefore = await old.query(allEvents);
    rollupBefore = await old.query(rollup);
    store = old.open();
    applied = await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await old?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every event with its seq, and the rollup rows as they were', async () => {
    expect(eventsBefore.length).toBeGreaterThan(250);
    expect(applied[0]).toMatch(backend === 'sqlite' ? /^0008_/ : /^0004_/);
    expect(await old.query(allEvents)).toEqual(eventsBefore);
    expect(await old.query(rollup)).toEqual(rollupBefore);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('lists the events kept by project and model, page by page, as the old table holds them', async () => {
    // Neither backend has an index per dimension any more: SQLite reads the hours its rollup names, PostgreSQL the slots.
    const expected = (await old.query(`SELECT id FROM usage_events WHERE project = 'atlas' AND model = 'm2' ORDER BY ts DESC, seq DESC`)).map((r) => r.id);
    expect(expected.length).toBeGreaterThan(20);
    expect(await idsOfAllPages(store, { filters: { project: ['atlas'], model: ['m2'] }, from: null, to: null, limit: 7 })).toEqual(expected);
  });

  it('ends with the schema of a database this version creates from nothing', async () => {
    expect(await old.schema()).toEqual(await old.freshSchema());
  });

  it('then stores an id again for another project, and not twice for its own', async () => {
    expect(await store.insertBatch([
      usageRecord('old-2', { project: 'cygnus', input_tokens: 5 }),
      usageRecord('old-2', { project: 'atlas', input_tokens: 5 }),
      usageRecord('old-3', { project: 'atlas', input_tokens: 5 }),
    ])).toEqual([true, false, true]);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('keeps the rollup triggers on the rebuilt table: a new event, a duplicate and a reprice each move it exactly', async () => {
    const next = (await old.query('SELECT MAX(seq) AS seq FROM usage_events'))[0]!.seq as number;
    expect(await store.insertBatch([usageRecord('new-1', { project: 'atlas', ts: Date.UTC(2026, 10, 2) })])).toEqual([true]);
    expect((await old.query(`SELECT seq FROM usage_events WHERE id = 'new-1'`))[0]!.seq).toBeGreaterThan(next);
    const repriced = await store.reprice({ from: 0, to: Date.UTC(2100, 0), models: ['m2'] }, (r) => {
      r.cost_nanos = 1234;
      r.cost_source = 'computed';
    });
    expect(repriced.changed).toBeGreaterThan(50);
    expect(await store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });
});
