import { shownUrl } from './redact.js';

/** DATABASE_URL names PostgreSQL with a `postgres://` or `postgresql://` URL; anything else is a SQLite file. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The SQLite file a DATABASE_URL names: a path, or a `file:` URL of one. */
export function sqliteFile(url: string): string {
  return url.startsWith('file:') ? url.slice('file:'.length) : url;
}

/** The database DATABASE_URL names, as a message may show it: no password. */
export function databaseName(url: string): string {
  return shownUrl(isPostgresUrl(url) ? url : sqliteFile(url));
}
