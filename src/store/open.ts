import type { Config } from '../config.js';
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
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return new PostgresStore(url, {
      poolMax: config.DATABASE_POOL_MAX, readOnly, readUrl: config.DATABASE_READ_URL, maxReplicaLagMs: config.MAX_REPLICA_LAG_MS,
    });
  }
  const file = url.startsWith('file:') ? url.slice('file:'.length) : url;
  return new SqliteStore(file, {
    synchronous: config.SQLITE_SYNCHRONOUS, busyTimeoutMs: config.SQLITE_BUSY_TIMEOUT_MS, writeThreads: config.SQLITE_WRITE_THREADS === 'on', readThreads, readOnly,
    maxBatchEvents: config.BATCH_MAX_EVENTS,
  });
}
