import type { SummaryTable } from './query-builder.js';
import { DIMENSIONS, type AggregateQuery, type Dimension, type Source } from './types.js';

/**
 * Which of the summaries migration 0011 keeps answers a question on PostgreSQL in place of its
 * source's table: the same numbers from fewer rows. The source stays what the planner chose
 * (planner.ts, shared with SQLite), so raw questions are still refused before the raw horizon,
 * where slots and runs are deleted with the events.
 */
interface Summary extends SummaryTable {
  /** The dimensions its key holds: a question grouping or filtering by any other cannot read it. */
  dimensions: ReadonlySet<Dimension>;
}

const SLOT_MS = 900_000;
const DAY_MS = 86_400_000;

/** usage_daily without the task: for rollup questions that do not name it. */
const DAILY_NO_TASK: Summary = { name: 'usage_daily_notask', keyedBy: 'day', dimensions: new Set(['project', 'agent', 'model', 'provider']) };
/** Per UTC day and run: raw questions by run over whole UTC days. */
const RUNS: Summary = { name: 'usage_runs', keyedBy: 'day', dimensions: new Set(['project', 'agent', 'task', 'run']) };
/** Per 15-minute UTC slot: raw questions whose range, buckets and zone no slot straddles. */
const SLOTS: Summary = { name: 'usage_slots', keyedBy: 'ts', dimensions: new Set(['project', 'agent', 'model', 'provider']) };

const isDimension = (key: string): key is Dimension => (DIMENSIONS as readonly string[]).includes(key);

/** The summary that answers `query` read from `source`, or null for the source's own table. */
function summaryFor(query: AggregateQuery, source: Source): SummaryTable | null {
  const named = [...query.groupBy, ...Object.keys(query.filters).filter((d) => query.filters[d as Dimension])].filter(isDimension);
  const fits = (s: Summary) => named.every((d) => s.dimensions.has(d));
  if (source === 'rollup') return fits(DAILY_NO_TASK) ? DAILY_NO_TASK : null;
  // A raw question over whole UTC days without a time zone that names only rollup dimensions
  // would be a rollup one: here it names the run (or buckets by local days).
  const wholeDays = query.from % DAY_MS === 0 && query.to % DAY_MS === 0;
  if (fits(RUNS) && wholeDays && !query.zone && !query.groupBy.includes('hour')) return RUNS;
  // Every event of a slot has the slot's local hour and day when offsets, zone changes and the
  // range's ends all fall on slot boundaries (every zone's offset is a multiple of 15 minutes).
  const aligned = (ms: number) => ms % SLOT_MS === 0;
  const zoneAligned = (query.zone ?? []).every((s, i) => s.offsetMinutes % 15 === 0 && (i === 0 || aligned(s.from)));
  if (fits(SLOTS) && aligned(query.from) && aligned(query.to) && zoneAligned) return SLOTS;
  return null;
}

/** The summaries for the groups and the totals of a planned query. */
export function summariesFor(query: AggregateQuery): { groups: SummaryTable | null; totals: SummaryTable | null } {
  return {
    groups: summaryFor(query, query.source),
    totals: summaryFor({ ...query, groupBy: [], zone: undefined }, query.totalsSource ?? query.source),
  };
}

/** The summaries verify compares and rebuild-rollups refills, in migration 0011's order (usage_daily first: one is kept from it). */
export const SUMMARY_TABLES = [DAILY_NO_TASK, SLOTS, RUNS].map((s) => s.name);
