import pg from 'pg';
import type { Transaction } from './postgres-budgets.js';

/**
 * Raw retention on PostgreSQL, by month (docs/scaling.md, "Retention by month"). The horizon moves
 * to the start of a month; the partitions wholly before it are detached (migration 0014); each
 * detached month's rows are walked from a cursor kept with it, deleting their ids, and the month is
 * dropped when the walk ends. Events still stored before the horizon in an attached partition
 * (strays in the default one, the pre-partitioning table until its last month passes) are deleted
 * with their ids. Every step is one short transaction that leaves the database consistent.
 */

/** lock_not_available: detaching gave up waiting for the parent's lock (RETIRE_SQL.lockTimeout). */
const LOCK_TIMEOUT = '55P03';
const DETACH_ATTEMPTS = 5;
/** undefined_table: a partition listed in a step was detached by another process before the step used it. */
const UNDEFINED_TABLE = '42P01';

/**
 * The id row of each event in `events`, looked up one by one in the primary key: a join would let
 * the planner hash the events and scan the whole id table instead, once per step.
 */
const ID_ROW = (events: string) => `(SELECT i.ctid FROM usage_event_ids AS i WHERE i.project = ${events}.project AND i.id = ${events}.id)`;

const RETIRE_SQL = {
  // The horizon moves forward to the start of the month holding $1, never back.
  horizon: `INSERT INTO raw_retention (id, horizon) VALUES (1, usage_month_start($1, 0))
    ON CONFLICT (id) DO UPDATE SET horizon = GREATEST(raw_retention.horizon, excluded.horizon)
    RETURNING horizon`,
  // Parent and partition are locked briefly; rather than queue every writer behind a long report, give up and retry.
  lockTimeout: `SET LOCAL lock_timeout = '1s'`,
  detach: 'SELECT usage_events_retire($1)',
  // One detached month at a time; its row lock keeps a second process from walking it meanwhile.
  // The cursor as text: it starts at the smallest bigint, which a JavaScript number cannot give back exactly.
  next: 'SELECT name, after_ts::text, after_seq::text FROM usage_events_retiring ORDER BY name LIMIT 1 FOR UPDATE',
  // The next $3 rows after the cursor ($1, $2) in the table's own ts index, their ids deleted, the
  // cursor moved past them, all in one statement.
  walk: (table: string) => `WITH walked AS (
      SELECT project, id, ts, seq FROM ${pg.escapeIdentifier(table)} WHERE ts >= $1 AND (ts, seq) > ($1, $2) ORDER BY ts, seq LIMIT $3
    ), gone AS (
      DELETE FROM usage_event_ids WHERE ctid = ANY(ARRAY(SELECT ${ID_ROW('walked')} FROM walked))
    ), last AS (
      SELECT ts, seq FROM walked ORDER BY ts DESC, seq DESC LIMIT 1
    ), moved AS (
      UPDATE usage_events_retiring AS r SET after_ts = last.ts, after_seq = last.seq FROM last WHERE r.name = $4
    )
    SELECT COUNT(*)::int AS walked FROM walked`,
  drop: (table: string) => `DROP TABLE ${pg.escapeIdentifier(table)}`,
  done: 'DELETE FROM usage_events_retiring WHERE name = $1',
  // The attached partitions that may hold events before the horizon: the default one, and one whose range starts before it.
  straying: `SELECT c.relname AS name FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid WHERE p.partrelid = 'usage_events'::regclass
    UNION ALL SELECT name FROM usage_events_partitions() WHERE lower_ms < $1`,
  // Up to $2 of a partition's events before the horizon, with their ids.
  strays: (table: string) => `WITH gone AS (
      DELETE FROM ${pg.escapeIdentifier(table)} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${pg.escapeIdentifier(table)} WHERE ts < $1 LIMIT $2))
      RETURNING project, id
    ), ids AS (
      DELETE FROM usage_event_ids WHERE ctid = ANY(ARRAY(SELECT ${ID_ROW('gone')} FROM gone))
    )
    SELECT COUNT(*)::int AS deleted FROM gone`,
};

/** Moves the horizon to the start of `before`'s month and detaches the months wholly before it; returns the horizon. */
export async function retireMonths(transaction: Transaction, before: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction(async (client) => {
        const horizon = (await client.query<{ horizon: number }>(RETIRE_SQL.horizon, [before])).rows[0]!.horizon;
        await client.query(RETIRE_SQL.lockTimeout);
        await client.query(RETIRE_SQL.detach, [horizon]);
        return horizon;
      });
    } catch (error) {
      if ((error as { code?: string }).code !== LOCK_TIMEOUT || attempt >= DETACH_ATTEMPTS) throw error;
    }
  }
}

/**
 * Up to `maxRows` events before `horizon` gone with their ids, one transaction per detached month
 * walked or partition pruned; returns how many. Fewer than `maxRows` means none is left.
 */
export async function pruneBeforeHorizon(transaction: Transaction, horizon: number, maxRows: number): Promise<number> {
  let deleted = 0;
  for (let gone = 0; ; ) {
    let step: { deleted: number; last: boolean };
    try {
      step = await transaction((client) => retireStep(client, horizon, maxRows - deleted));
    } catch (error) {
      // Another process detached (and renamed) a partition this step had listed: the step did
      // nothing; the next one lists what is there now.
      if ((error as { code?: string }).code !== UNDEFINED_TABLE || ++gone > DETACH_ATTEMPTS) throw error;
      continue;
    }
    deleted += step.deleted;
    if (step.last || deleted >= maxRows) return deleted;
  }
}

/** One detached month walked by up to `maxRows` rows (then dropped if that was all), or else the strays. */
async function retireStep(client: pg.PoolClient, horizon: number, maxRows: number): Promise<{ deleted: number; last: boolean }> {
  const month = (await client.query<{ name: string; after_ts: string; after_seq: string }>(RETIRE_SQL.next)).rows[0];
  if (month) {
    const { walked } = (await client.query<{ walked: number }>(RETIRE_SQL.walk(month.name), [month.after_ts, month.after_seq, maxRows, month.name])).rows[0]!;
    if (walked < maxRows) {
      await client.query(RETIRE_SQL.drop(month.name));
      await client.query(RETIRE_SQL.done, [month.name]);
    }
    return { deleted: walked, last: false };
  }
  let deleted = 0;
  for (const { name } of (await client.query<{ name: string }>(RETIRE_SQL.straying, [horizon])).rows) {
    if (deleted >= maxRows) break;
    deleted += (await client.query<{ deleted: number }>(RETIRE_SQL.strays(name), [horizon, maxRows - deleted])).rows[0]!.deleted;
  }
  return { deleted, last: deleted < maxRows };
}
