import { ApiError } from '../http/errors.js';
import {
  type AggregateQuery, ROLLUP_BUCKETS, ROLLUP_DIMENSIONS, type Source, type Store, type TimeBucket, type Dimension,
} from './types.js';
import { isoUtc } from '../time.js';

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

/**
 * Raw events before the retention horizon are gone (their rollups stay): a raw answer reaching
 * back past it would silently miss them, so the question is refused with what to ask instead.
 */
function requireRawKept(query: AggregateQuery, horizon: number | null): void {
  if (horizon === null || query.from >= horizon) return;
  throw new ApiError(400, 'raw_expired',
    `from: raw events before ${isoUtc(horizon)} were deleted by RAW_RETENTION_DAYS, and this question needs them ` +
    `(it groups or filters by something other than project, agent, model, provider, task and day, or its range is not whole UTC days); ` +
    `start at ${isoUtc(horizon)} or later, or ask by whole UTC days and those dimensions`);
}

/** The store with raw questions checked against the retention horizon. */
export function withRawHorizon(store: Store): Store {
  return Object.assign(Object.create(store) as Store, {
    aggregate: async (q: AggregateQuery) => {
      if (q.source === 'raw') requireRawKept(q, await store.rawHorizon());
      return store.aggregate(q);
    },
  });
}
