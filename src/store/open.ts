import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/** The backend named by DATABASE_URL: a file path (SQLite). */
export function openStore(config: Config): Store {
  const url = config.DATABASE_URL;
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new ConfigError('DATABASE_URL: the PostgreSQL backend is not available in this version; use a SQLite file path');
  }
  const file = url.startsWith('file:') ? url.slice('file:'.length) : url;
  return new SqliteStore(file, { synchronous: config.SQLITE_SYNCHRONOUS, busyTimeoutMs: config.SQLITE_BUSY_TIMEOUT_MS });
}
