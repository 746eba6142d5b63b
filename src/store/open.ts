import type { Config } from '../config.js';
import { isPostgresUrl, sqliteFile } from '../database-url.js';
import { openFailure } from './open-failure.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/**
 * The backend named by DATABASE_URL: `postgres://` or `postgresql://` (PostgreSQL), else a file path
 * (SQLite). `readOnly`: for commands that only read, which then cannot change the database.
 * `readThreads`: SQLite reports on read threads; off for a caller already on a thread of its own.
 */
export function openStore(config: Config, { readOnly = false, readThreads = true } = {}): Store {
  const url = config.DATABASE_URL;
  if (isPostgresUrl(url)) {
    return new PostgresStore(url, {
      poolMax: config.DATABASE_POOL_MAX, readOnly, readUrl: config.DATABASE_READ_URL, maxReplicaLagMs: config.MAX_REPLICA_LAG_MS,
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS,
    });
  }
  return new SqliteStore(sqliteFile(url), {
    synchronous: config.SQLITE_SYNCHRONOUS, busyTimeoutMs: config.SQLITE_BUSY_TIMEOUT_MS, writeThreads: config.SQLITE_WRITE_THREADS === 'on', readThreads, readOnly,
    maxBatchEvents: config.BATCH_MAX_EVENTS,
  });
}

/**
 * openStore as a command starts with it: migrated, unless it only reads (then left exactly as it
 * is, and asked a query, as a PostgreSQL pool connects only when first used). When any of that
 * fails, the error names the database and says what to look at (open-failure.ts).
 */
export async function openReadyStore(config: Config, options: { readOnly?: boolean } = {}): Promise<Store> {
  let store: Store | undefined;
  try {
    store = openStore(config, options);
    if (options.readOnly) await store.ping();
    else await store.migrate();
    return store;
  } catch (error) {
    await store?.close().catch(() => undefined);
    throw openFailure(config.DATABASE_URL, error, options.readOnly);
  }
}
