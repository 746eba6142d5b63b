import Database from 'better-sqlite3';
import { join } from 'node:path';
import type pg from 'pg';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { readMigrations } from '../../src/store/migrations.js';
import { MIGRATIONS_TABLE_SQL } from '../../src/store/postgres-queries.js';

/**
 * Databases as an older release left them: only the migrations up to `version` applied, recorded as
 * the runner records them. The files are this version's; the old ones never change once released.
 */
export function sqliteAtVersion(file: string, version: number): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of readMigrations(join(PACKAGE_ROOT, 'migrations')).filter((m) => m.version <= version)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, new Date().toISOString());
  }
  return db;
}

export async function postgresAtVersion(client: pg.Client, version: number): Promise<void> {
  await client.query(MIGRATIONS_TABLE_SQL);
  for (const m of readMigrations(join(PACKAGE_ROOT, 'migrations', 'postgres')).filter((m) => m.version <= version)) {
    await client.query(m.sql);
    await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
  }
}
