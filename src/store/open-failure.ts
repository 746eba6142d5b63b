import { accessSync, constants, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { databaseName, isPostgresUrl, sqliteFile } from '../database-url.js';

/** Below this much free space on its disk, a SQLite I/O error is taken for a full disk. */
const FULL_DISK_BYTES = 1024 * 1024;

const uid = () => (process.getuid ? ` (uid ${process.getuid()})` : '');

/** The path itself or its nearest folder that exists: what statfs can be asked about. */
function existing(path: string): string {
  let at = path;
  while (!statSync(at, { throwIfNoEntry: false }) && dirname(at) !== at) at = dirname(at);
  return at;
}

/** Why the disk holding `path` takes no more, when it takes none: no free inode, or under FULL_DISK_BYTES free. */
function fullDisk(path: string): string {
  const { bavail, bfree, bsize, ffree } = statfsSync(existing(path));
  if (ffree === 0) return 'its filesystem has no free inodes left (df -i)';
  // Root may use the blocks kept for it.
  const free = (process.getuid?.() === 0 ? bfree : bavail) * bsize;
  return free < FULL_DISK_BYTES ? `its disk is full (${free} bytes free)` : '';
}

/** What to look at for a SQLite file that cannot be opened, by the error's code; '' when nothing better is known. */
function sqliteHint(file: string, code: string, readOnly: boolean): string {
  const folder = dirname(file);
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC') return fullDisk(folder);
  if (code === 'SQLITE_CANTOPEN') {
    const found = statSync(file, { throwIfNoEntry: false });
    if (found?.isDirectory()) return `that is a folder: name a file in it, e.g. DATABASE_URL=${file.replace(/\/+$/, '')}/tokentally.db`;
    accessSync(folder, constants.W_OK | constants.X_OK);
    if (!found && readOnly) return 'there is no such file (verify and backup only read: they make none)';
    return fullDisk(folder);
  }
  if (code.startsWith('SQLITE_READONLY')) return `the file or its folder is read-only to this process${uid()}`;
  if (code === 'SQLITE_BUSY') return 'another process holds a lock on it for longer than SQLITE_BUSY_TIMEOUT_MS';
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') return 'restore the file from a backup (docs/operations.md, Backup and restore), or name another';
  if (code === 'EEXIST' || code === 'ENOTDIR') return 'a file stands where its folder should be';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `this process${uid()} may not use its folder`;
  return '';
}

/** What to look at for a PostgreSQL server that cannot be used, by the error's code. */
function postgresHint(code: string): string {
  if (code === 'ECONNREFUSED') return 'nothing accepts connections at that address: is PostgreSQL running and listening there?';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve';
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'the server cannot be reached from here';
  if (code === '28P01' || code === '28000') return "check the URL's user and password";
  if (code === '3D000') return 'create the database first (createdb), or name one that exists';
  return '';
}

/**
 * The hint for `code`; a folder that cannot be looked into (or written, for SQLITE_CANTOPEN) says
 * so instead, and nothing that goes wrong here may hide the error being explained.
 */
function hintFor(url: string, code: string, readOnly: boolean): string {
  if (isPostgresUrl(url)) return postgresHint(code);
  try {
    return sqliteHint(sqliteFile(url), code, readOnly);
  } catch {
    return `its folder ${dirname(sqliteFile(url))} cannot be read or written by this process${uid()}`;
  }
}

/** The driver's words: a connection tried on each of a host's addresses fails as an AggregateError with none of its own. */
function driverText(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') return error.errors.map(driverText).join('; ');
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'an error without a message';
  }
}

/**
 * The error a command stops with when the database named by `url` cannot be opened or migrated:
 * which database (without its password) and which setting, the driver's own words and code, and
 * for the usual causes (a full disk, a folder that cannot be written, a server that is not there)
 * what to look at. The driver's error is its cause. `readOnly`: a command that only reads, and so
 * makes no file.
 */
export function openFailure(url: string, error: unknown, readOnly = false): Error {
  const code = (error as { code?: unknown } | null)?.code;
  const known = typeof code === 'string' ? code : '';
  const text = driverText(error);
  const coded = known !== '' && !text.includes(known) ? `${text} (${known})` : text;
  const hint = hintFor(url, known, readOnly);
  return new Error(`cannot open the database ${databaseName(url)} (DATABASE_URL): ${coded}${hint ? `; ${hint}` : ''}`, { cause: error });
}
