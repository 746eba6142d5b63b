import type Database from 'better-sqlite3';
import { aggregateSql, carriedRollupSql, type SqlRow } from './query-builder.js';
import { groupsFromRows, totalsFromGroups } from './report-rows.js';
import { metricsFromRow } from './sums.js';
import { readEventsPage } from './sqlite-events.js';
import { listProjectsSql, SQLITE_DIALECT } from './sqlite-queries.js';
import type { AggregateQuery, AggregateResult, EventsPage, EventsQuery, Project, ProjectsQuery } from './types.js';

/**
 * Reports read the month's rollup rows again and again (about 5 MB at a million events a month);
 * in SQLite's default 2 MB cache every report read them anew from the file.
 */
export const READ_CACHE_KIB = 32 * 1024;

/**
 * The SQLite store's reports and lists, on one connection: the service runs them on its read threads
 * (see sqlite-read-threads.ts), so a long query never holds the event loop; a store without threads runs
 * them on its own connection.
 */
export function sqliteReads(db: Database.Database) {
  /** The report read narrow, or wide (see sums.ts); null when a narrow reading overflowed. */
  function aggregateRead(query: AggregateQuery, wide: boolean): AggregateResult | null {
    const { totals, groups } = aggregateSql(query, SQLITE_DIALECT, wide);
    try {
      const result = groupsFromRows(query, db.prepare(groups.sql).safeIntegers(wide).all(groups.params) as SqlRow[], groups.parts);
      if (!result) return null;
      const sums = totalsFromGroups(query, result)
        ?? metricsFromRow(db.prepare(totals.sql).safeIntegers(wide).get(totals.params) as SqlRow, totals.parts);
      return sums && { totals: sums, ...result };
    } catch (error) {
      if (!wide && (error as Error).message === 'integer overflow') return null;
      throw error;
    }
  }

  return {
    aggregate(query: AggregateQuery): AggregateResult {
      // One read transaction: totals and groups come from one snapshot, so the groups past the
      // limit ("other" = totals less those shown) add up while the insert thread commits.
      return db.transaction(() => {
        const carried = carriedRollupSql(query, SQLITE_DIALECT);
        const wide = carried !== null && db.prepare(carried.sql).pluck().get(carried.params) === 1;
        return (wide ? null : aggregateRead(query, false)) ?? aggregateRead(query, true)!;
      })();
    },

    listEvents(query: EventsQuery): EventsPage {
      return readEventsPage(db, query);
    },

    listProjects(query: ProjectsQuery): Project[] {
      const { sql, params } = listProjectsSql(query);
      return (db.prepare(sql).all(params) as SqlRow[]).map(projectFromRow);
    },
  };
}

export type SqliteReads = ReturnType<typeof sqliteReads>;
export type ReadName = keyof SqliteReads;

export function projectFromRow(row: SqlRow): Project {
  return {
    id: String(row.id), name: String(row.name), description: String(row.description),
    archived: row.archived === 1, pinned: row.pinned === 1, pin_order: row.pin_order === null ? null : Number(row.pin_order),
    created_at: String(row.created_at), updated_at: String(row.updated_at),
  };
}
