import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../bench/server.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { migrationName, readMigrations } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { postgresAtVersion, sqliteAtVersion } from '../support/old-schema.js';
import { createDatabase, POSTGRES_OPTED_OUT } from '../support/postgres.js';
import { usageRecord } from '../support/records.js';

/**
 * `verify` and `backup` only read: they run no migration and write nothing, so the database file
 * stays the same byte for byte, and one from an older version is reported as such, not upgraded.
 */
/** What verify says of a database at `version`: every later migration of `dir`, by name. */
const pending = (dir: string, version: number) => {
  const names = readMigrations(join(PACKAGE_ROOT, dir)).filter((m) => m.version > version).map(migrationName);
  return `older version of tokentally (not applied: ${names.join(', ')}); it was left as it is`;
};
const PENDING = pending('migrations', 7);
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const versions = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
};

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('on SQLite, verify and backup leave the database as it was', () => {
  it('a current database: verify checks it, backup copies it, and the file is unchanged', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-readonly-'));
    const file = join(dir, 'usage.db');
    const store = new SqliteStore(file, { writeThreads: false });
    await store.migrate();
    await store.insertBatch([usageRecord('a'), usageRecord('b', { project: 'q' })]);
    await store.close();
    const before = sha(file);

    const verify = runCli(['verify'], { DATABASE_URL: file });
    expect(await verify.exited).toBe(0);
    expect(verify.output()).toMatch(/integrity: ok; rollup rows differing from the raw sums \(either side\): 0/);
    const copy = join(dir, 'copy.db');
    const backup = runCli(['backup', copy], { DATABASE_URL: file });
    expect(await backup.exited).toBe(0);
    expect(backup.output()).not.toMatch(/older version/);
    expect(sha(file)).toBe(before);
    expect(await runCli(['verify'], { DATABASE_URL: copy }).exited).toBe(0);
    expect(readdirSync(dir).filter((name) => !name.startsWith('usage.db')).sort()).toEqual(['copy.db', 'copy.db-shm', 'copy.db-wal']);
  });

  it('a damaged database: backup says the copy fails the check, exits 1 and leaves no file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-readonly-'));
    const file = join(dir, 'usage.db');
    const store = new SqliteStore(file, { writeThreads: false });
    await store.migrate();
    await store.insertBatch(Array.from({ length: 3_000 }, (_, i) => usageRecord(`e-${i}`, { attributes: JSON.stringify({ note: `event ${i} `.repeat(8) }) })));
    await store.close();
    // A page near the end holds events or their indexes, not the schema: the service's first reads still work.
    const db = new Database(file, { readonly: true });
    const [pageSize, pages] = [db.pragma('page_size', { simple: true }) as number, db.pragma('page_count', { simple: true }) as number];
    db.close();
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (pages - 3) * pageSize);
    closeSync(fd);

    const copy = join(dir, 'copy.db');
    const backup = runCli(['backup', copy], { DATABASE_URL: file });
    expect(await backup.exited).toBe(1);
    expect(backup.output()).toMatch(/backup: the copy fails SQLite's check \(.+\), so it was not kept; the database itself is likely damaged: run tokentally verify/);
    expect(readdirSync(dir).filter((name) => !name.startsWith('usage.db'))).toEqual([]);
  });

  it('an older database: verify says so and exits 1, backup copies it as it is; neither upgrades it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-readonly-'));
    const file = join(dir, 'old.db');
    const old = sqliteAtVersion(file, 7);
    old.prepare(`INSERT INTO usage_events (id, ts, project, agent_id, model, cost_source, received_at) VALUES ('x', ${Date.UTC(2026, 10, 3)}, 'p', 'a', 'm', 'unpriced', 0)`).run();
    old.close();
    const before = sha(file);

    const verify = runCli(['verify'], { DATABASE_URL: file });
    expect(await verify.exited).toBe(1);
    expect(verify.output()).toContain(PENDING);
    const copy = join(dir, 'copy.db');
    const backup = runCli(['backup', copy], { DATABASE_URL: file });
    expect(await backup.exited).toBe(0);
    expect(backup.output()).toContain(PENDING);
    expect(sha(file)).toBe(before);
    expect(versions(file)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(versions(copy)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('a missing file: verify says so and creates nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-readonly-'));
    const verify = runCli(['verify'], { DATABASE_URL: join(dir, 'nested', 'none.db') });
    expect(await verify.exited).toBe(1);
    expect(verify.output()).toMatch(/none\.db/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe.skipIf(POSTGRES_OPTED_OUT)('on PostgreSQL, verify leaves the database as it was', () => {
  it('an older database: verify says so and exits 1, and applies nothing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tokentally-readonly-'));
    const database = await createDatabase();
    const client = new pg.Client({ connectionString: database.url });
    try {
      await client.connect();
      await postgresAtVersion(client, 3);
      const verify = runCli(['verify'], { DATABASE_URL: database.url });
      expect(await verify.exited).toBe(1);
      expect(verify.output()).toContain(pending('migrations/postgres', 3));
      expect((await client.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version)).toEqual([1, 2, 3]);

      expect(await runCli(['migrate'], { DATABASE_URL: database.url }).exited).toBe(0);
      expect(await runCli(['verify'], { DATABASE_URL: database.url }).exited).toBe(0);
    } finally {
      await client.end();
      await database.drop();
    }
  });
});
