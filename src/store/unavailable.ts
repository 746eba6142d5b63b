import { THREAD_NOT_STARTED } from '../threads.js';

/** Network failures on the way to a database server. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/**
 * PostgreSQL's SQLSTATEs for a server that cannot serve now: class 08 (connection exception),
 * 53 (insufficient resources: disk full, out of memory, too many connections), 57P01–57P03
 * (shutting down, crashed, starting up), and 57014, a statement it cancelled (statement_timeout).
 */
const POSTGRES = /^(08|53|57P0[123]|57014)/;
/** PostgreSQL's SQLSTATE for a statement cancelled, by statement_timeout here. */
const QUERY_CANCELED = '57014';
/** SQLite's codes for a file that cannot be used now: locked, I/O failing, out of room, read-only. */
const SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY|PROTOCOL)/;
/** pg's words for its two timeouts (no code), and the settings that set them. */
const PG_CONNECT_TIMEOUT = /^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)/;
const PG_READ_TIMEOUT = /^Query read timeout/;
/** pg's own errors for a connection lost or never made, which carry no code (its timeouts above too). */
const PG_CONNECTION = /^(Connection terminated|Client has encountered a connection error)/;

/**
 * Whether an error from a database call means the database cannot be used right now (down,
 * unreachable, busy, out of room), not that the request or the service is wrong: an answer to
 * retry later (503), never a 500.
 */
export function databaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  // PostgreSQL ends the session with a FATAL (or PANIC) error: a connection refused (a database not
  // accepting connections, a login that no longer works) or cut, whatever its SQLSTATE.
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  // A SQLite store's thread that the system refused to start (sqlite-thread-start.ts): it cannot serve until one starts.
  if (typeof code === 'string') return NETWORK.has(code) || POSTGRES.test(code) || SQLITE.test(code) || code === THREAD_NOT_STARTED;
  return [PG_CONNECTION, PG_CONNECT_TIMEOUT, PG_READ_TIMEOUT].some((words) => words.test(error.message));
}

/**
 * Why an error of `databaseUnavailable` leaves the store unusable now, as a message says it: a thread
 * the system refused in its own words, which name the thread; anything else as the database's.
 */
export function unavailableCause(error: unknown): string {
  if ((error as { code?: unknown } | null)?.code === THREAD_NOT_STARTED) return (error as Error).message;
  return `the database is unavailable (${describeDatabaseError(error)})`;
}

/** An error as a message about the database shows it: its code, then its words. */
export function describeDatabaseError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const described = 'code' in error ? `${String(error.code)}: ${error.message}` : error.message;
  const setting = PG_CONNECT_TIMEOUT.test(error.message)
    ? 'DATABASE_CONNECT_TIMEOUT_MS'
    : PG_READ_TIMEOUT.test(error.message) ? 'DATABASE_QUERY_TIMEOUT_MS'
    // Also what a cancel on the server says (pg_cancel_backend, a pooler's); its words depend on lc_messages.
    : statementTimedOut(error) ? 'DATABASE_QUERY_TIMEOUT_MS, unless it was cancelled on the server' : undefined;
  return setting ? `${described} (${setting})` : described;
}

/** pg's error for a query not answered within its `query_timeout`: the server may still be running it, or be gone. */
export function serverSilent(error: unknown): boolean {
  return error instanceof Error && PG_READ_TIMEOUT.test(error.message);
}

/** A statement the server ended for running past its statement_timeout (DATABASE_QUERY_TIMEOUT_MS). */
export function statementTimedOut(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === QUERY_CANCELED;
}

/** The code of an error no retry mends: the database's files were deleted or replaced under the running service. */
export const DATABASE_REPLACED = 'DATABASE_REPLACED';

export function databaseReplaced(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === DATABASE_REPLACED;
}
