import type { MetricStreamUpdate } from './types.js';

/**
 * The statements that move cumulative metric streams (see MetricStreamUpdate), `?` placeholders, for
 * both backends. Each moves one stream only from the point its counting started from: it changes no
 * row when another writer moved the stream first, and the batch then fails whole.
 */
export const METRIC_STREAM_SQL = {
  first: `INSERT INTO metric_streams (stream, start_nanos, time_nanos, value, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (stream) DO NOTHING`,
  next: `UPDATE metric_streams SET start_nanos = ?, time_nanos = ?, value = ?, updated_at = ?
    WHERE stream = ? AND start_nanos = ? AND time_nanos = ?`,
};

/**
 * Pruning, a page of keys at a time in stream order: a page read by key (at most its own rows, and
 * never waiting for SQLite's write lock), then its stale streams deleted by key unless moved
 * meanwhile (PRUNE_STREAMS_SQL of each backend).
 */
export const STREAMS_PAGE_SQL = 'SELECT stream, updated_at FROM metric_streams WHERE stream > ? ORDER BY stream LIMIT ?';

/** The streams of a page last moved before `before`, and where the next page starts (null: none). */
export function stalePage(rows: readonly { stream: string; updated_at: number | string }[], before: number, maxRows: number): { stale: string[]; last: string | null } {
  return {
    stale: rows.filter((r) => Number(r.updated_at) < before).map((r) => r.stream),
    last: rows.length < maxRows ? null : rows[rows.length - 1]!.stream,
  };
}

/** The statement and parameters of one move. */
export function metricStreamStatement(update: MetricStreamUpdate, now: number): { sql: string; params: unknown[] } {
  const { stream, start, time, value, previous } = update;
  return previous === null
    ? { sql: METRIC_STREAM_SQL.first, params: [stream, start, time, value, now] }
    : { sql: METRIC_STREAM_SQL.next, params: [start, time, value, now, stream, previous.start, previous.time] };
}

/**
 * Moves in stream order, so that two PostgreSQL collectors moving the same streams wait on each
 * other instead of deadlocking.
 */
export function inStreamOrder(updates: readonly MetricStreamUpdate[]): MetricStreamUpdate[] {
  return [...updates].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
}

/** The batch's failure when a move changed no row. */
export function streamMoved(update: MetricStreamUpdate): Error {
  return Object.assign(new Error(`metric stream ${update.stream.slice(0, 16)}… was counted by another collector meanwhile; the export is to be retried`), {
    code: 'METRIC_STREAM_MOVED',
  });
}
