import {
  type AggregateQuery, ROLLUP_BUCKETS, ROLLUP_DIMENSIONS, type Source, type TimeBucket, type Dimension,
} from '../src/store/types.js';

const DAY_MS = 86_400_000;

/**
 * Which table answers a question. `usage_daily` holds sums per UTC day × project × agent × model ×
 * provider × task, so it answers exactly when every grouping and filter is one of those (or a day,
 * week or month bucket) and the range starts and ends on UTC midnights. Anything finer (hour, run,
 * operation, status, session, user, a range cut inside a day, days of another time zone) needs the
 * raw events.
 */
export function chooseSource(q: Omit<AggregateQuery, 'source'>): Source {
  const groupsFit = q.groupBy.every((g) => ROLLUP_DIMENSIONS.has(g as Dimension) || (!q.zone && ROLLUP_BUCKETS.has(g as TimeBucket)));
  const filtersFit = Object.keys(q.filters).every((d) => ROLLUP_DIMENSIONS.has(d as Dimension));
  const daysFit = q.from % DAY_MS === 0 && q.to % DAY_MS === 0;
  return groupsFit && filtersFit && daysFit ? 'rollup' : 'raw';
}

/** Totals ignore the grouping, so they may come from the rollup while the groups need raw events. */
export function plan(q: Omit<AggregateQuery, 'source' | 'totalsSource'>): AggregateQuery {
  return { ...q, source: chooseSource(q), totalsSource: chooseSource({ ...q, groupBy: [], zone: undefined }) };
}
