import { accessSync, constants, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Below this much free space on its disk, a SQLite I/O error is taken for a full disk. */
const FULL_DISK_BYTES = 1024 * 1024;

const uid = () => (process.getuid ? ` (uid ${process.getuid()})` : '');

/** The database DATABASE_URL names, as a message may show it: a PostgreSQL URL loses its password. */
export function databaseName(url: string): string {
  if (!/^postgres(ql)?:\/\//i.test(url)) return sqliteFile(url);
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'postgres://…';
  }
}

export function sqliteFile(url: string): string {
  return url.startsWith('file:') ? url.slice('file:'.length) : url;
}

/** Free bytes for this process on the disk holding `path`, or undefined when they cannot be read. */
function freeBytes(path: string): number | undefined {
  try {
    const { bavail, bsize } = statfsSync(path);
    return bavail * bsize;
  } catch {
    return undefined;
  }
}

/** What to look at for a SQLite file that cannot be opened, by the error's code; '' when nothing better is known. */
function sqliteHint(file: string, code: string): string {
  const folder = dirname(file);
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) {
    const free = freeBytes(folder);
    return free !== undefined && free < FULL_DISK_BYTES ? `its disk is full (${free} bytes free)` : '';
  }
  if (code === 'SQLITE_CANTOPEN') {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) return 'that is a folder: name a file in it, e.g. DATABASE_URL=' + `${file.replace(/\/+$/, '')}/tokentally.db`;
    try {
      accessSync(folder, constants.W_OK | constants.X_OK);
      return '';
    } catch {
      return `its folder ${folder} is not writable by this process${uid()}`;
    }
  }
  if (code.startsWith('SQLITE_READONLY')) return `the file or its folder is read-only to this process${uid()}`;
  if (code === 'SQLITE_BUSY') return 'another process holds a lock on it for longer than SQLITE_BUSY_TIMEOUT_MS';
  if (code === 'EEXIST' || code === 'ENOTDIR') return 'a file stands where its folder should be';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `this process${uid()} may not create its folder there`;
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
 * The error a command stops with when the database named by `url` cannot be opened or migrated:
 * which database and which setting, the driver's own words and code, and for the usual causes
 * (a full disk, a folder that cannot be written, a server that is not there) what to look at.
 */
export function openFailure(url: string, error: unknown): Error {
  const { message, code } = error instanceof Error ? (error as Error & { code?: unknown }) : { message: String(error), code: undefined };
  const known = typeof code === 'string' ? code : '';
  const hint = /^postgres(ql)?:\/\//i.test(url) ? postgresHint(known) : sqliteHint(sqliteFile(url), known);
  const coded = known !== '' && !message.includes(known) ? `${message} (${known})` : message;
  return new Error(`cannot open the database ${databaseName(url)} (DATABASE_URL): ${coded}${hint ? `; ${hint}` : ''}`);
}
