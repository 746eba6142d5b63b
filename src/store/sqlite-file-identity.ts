import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { DATABASE_REPLACED } from './unavailable.js';

interface Identity {
  dev: number;
  ino: number;
}

/** Each connection's database file as it was opened, and its WAL once there is one. */
const opened = new WeakMap<Database.Database, { file: Identity; wal?: Identity }>();

const identity = (path: string): Identity | undefined => {
  const found = statSync(path, { throwIfNoEntry: false });
  return found && { dev: found.dev, ino: found.ino };
};
const same = (a: Identity | undefined, b: Identity) => a !== undefined && a.dev === b.dev && a.ino === b.ino;

/** Notes which file a connection has open, for assertSameFiles; none for an in-memory database. */
export function rememberFiles(db: Database.Database): void {
  const file = db.memory ? undefined : identity(db.name);
  if (file) opened.set(db, { file });
}

/**
 * Throws unless the database file and its WAL are still the ones the connection writes. Deleted
 * or replaced while the service runs (an `rm`, a restore by `mv`), SQLite would go on committing
 * into the old files, and what was acknowledged would be gone when the process ends, or the WAL
 * would no longer match its database. Checked before each write transaction: the write fails,
 * and its request is answered 503, instead, until a restart. A connection knows its WAL from the
 * first check that finds one (a database cleanly closed has none until its next write).
 */
export function assertSameFiles(db: Database.Database): void {
  const known = opened.get(db);
  if (!known) return;
  if (!same(identity(db.name), known.file)) throw replaced(db.name);
  const wal = identity(`${db.name}-wal`);
  // SQLite makes the WAL with the first transaction and keeps it while any connection is open.
  if (!known.wal) known.wal = wal;
  else if (!same(wal, known.wal)) throw replaced(`${db.name}-wal`);
}

function replaced(path: string): Error {
  const message = `${path} was deleted or replaced while the service ran; restart the service to open the database at DATABASE_URL again`;
  return Object.assign(new Error(message), { code: DATABASE_REPLACED });
}
