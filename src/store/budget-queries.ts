import type { Budget } from '../budgets/schema.js';
import type { Delivery } from '../budgets/store.js';
import type { SqlRow } from './query-builder.js';

/**
 * Statements on budgets, budget_crossings and budget_outbox, with `?` placeholders (PostgreSQL
 * numbers them). The tables are in the migrations named budgets.
 */
const BUDGET_COLUMNS = 'id, name, scope, time_window, tz, limit_nanos, thresholds, targets, created_at, updated_at';
const DELIVERY_COLUMNS = 'seq, delivery_id, budget_id, target, target_key, body, attempts';
/** Due: not delivered, not given up on, its next attempt reached and no live lease on it. */
const DUE = 'delivered_at IS NULL AND failed_at IS NULL AND next_at <= ? AND lease_until <= ?';

export const BUDGET_SQL = {
  list: `SELECT ${BUDGET_COLUMNS} FROM budgets ORDER BY id`,
  get: `SELECT ${BUDGET_COLUMNS} FROM budgets WHERE id = ?`,
  exists: 'SELECT 1 FROM budgets WHERE id = ?',
  save: `INSERT INTO budgets (${BUDGET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, scope = excluded.scope, time_window = excluded.time_window,
      tz = excluded.tz, limit_nanos = excluded.limit_nanos, thresholds = excluded.thresholds, targets = excluded.targets,
      updated_at = excluded.updated_at`,
  delete: 'DELETE FROM budgets WHERE id = ?',
  crossings: 'SELECT threshold, crossed_at, spend_nanos FROM budget_crossings WHERE budget_id = ? AND window_start = ? ORDER BY threshold',
  recordCrossing: `INSERT INTO budget_crossings (budget_id, window_start, threshold, crossed_at, spend_nanos) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING RETURNING threshold`,
  enqueue: `INSERT INTO budget_outbox (delivery_id, budget_id, target, target_key, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  delivered: 'UPDATE budget_outbox SET delivered_at = ?, attempts = attempts + 1, lease_until = 0, last_error = NULL WHERE seq = ?',
  retry: 'UPDATE budget_outbox SET next_at = ?, attempts = attempts + 1, lease_until = 0, last_error = ? WHERE seq = ?',
  failed: 'UPDATE budget_outbox SET failed_at = ?, attempts = attempts + 1, lease_until = 0, last_error = ? WHERE seq = ?',
  /** Targets whose latest finished delivery failed for good. */
  failing: `SELECT budget_id, target_key, failed_at, last_error AS error FROM budget_outbox o
    WHERE failed_at IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM budget_outbox later WHERE later.target_key = o.target_key AND later.seq > o.seq
        AND (later.delivered_at IS NOT NULL OR later.failed_at IS NOT NULL))
    ORDER BY target_key`,
  /**
   * Finished deliveries (delivered or failed for good) from before `?`, but never a target's latest:
   * what `failing` answers stays the same.
   */
  prune: `DELETE FROM budget_outbox WHERE seq IN (
    SELECT seq FROM budget_outbox o WHERE COALESCE(delivered_at, failed_at) < ? AND EXISTS (
      SELECT 1 FROM budget_outbox later WHERE later.target_key = o.target_key AND later.seq > o.seq
        AND (later.delivered_at IS NOT NULL OR later.failed_at IS NOT NULL)))`,
};

/** Whether anything is due, read without a write lock, so an idle outbox never contends with the event writer. */
export const ANY_DUE_SQL = `SELECT 1 FROM budget_outbox WHERE ${DUE} LIMIT 1`;

/** SQLite: the lease is taken in the same statement that finds the rows (one writer at a time). */
export const SQLITE_CLAIM_SQL = `UPDATE budget_outbox SET lease_until = ?
  WHERE seq IN (SELECT seq FROM budget_outbox WHERE ${DUE} ORDER BY seq LIMIT ?)
  RETURNING ${DELIVERY_COLUMNS}`;

/** PostgreSQL: rows another collector is leasing at this moment are skipped, not waited for. */
export const POSTGRES_CLAIM_SQL = `UPDATE budget_outbox SET lease_until = ?
  WHERE seq IN (SELECT seq FROM budget_outbox WHERE ${DUE} ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED)
  RETURNING ${DELIVERY_COLUMNS}`;

export function budgetParams(b: Omit<Budget, 'created_at' | 'updated_at'>, now: string): unknown[] {
  return [b.id, b.name, JSON.stringify(b.scope), b.window, b.tz, b.limit_nanos, JSON.stringify(b.thresholds), JSON.stringify(b.targets), now, now];
}

export function budgetFromRow(row: SqlRow): Budget {
  return {
    id: String(row.id), name: String(row.name), scope: JSON.parse(String(row.scope)), window: String(row.time_window) as Budget['window'],
    tz: String(row.tz), limit_nanos: Number(row.limit_nanos), thresholds: JSON.parse(String(row.thresholds)),
    targets: JSON.parse(String(row.targets)), created_at: String(row.created_at), updated_at: String(row.updated_at),
  };
}

export function deliveryFromRow(row: SqlRow): Delivery {
  return {
    seq: Number(row.seq), delivery_id: String(row.delivery_id), budget_id: String(row.budget_id), target: JSON.parse(String(row.target)),
    target_key: String(row.target_key), body: String(row.body), attempts: Number(row.attempts),
  };
}
