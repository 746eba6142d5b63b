import { z } from 'zod';
import { isoUtc } from '../../src/time.js';
import type { AggregateQuery, ExactMetrics, Store } from '../../src/store/types.js';
import type { ReportingApi, ReportingDeps } from '../app.js';
import { ApiMetrics, apiMetrics } from '../metrics.js';
import { exactJsonAnswer } from '../json.js';
import { cursorParam, encodeCursor, limitParam, startOfMonth, tzParam } from '../params.js';
import { plan } from '../../src/store/planner.js';

/**
 * Where a page of the ranking ended: the last project's cost in nano-dollars, and its id. The cost
 * is a decimal string, exact past 2^53 nano-dollars (about $9M), where a JSON number would round.
 */
type RankCursor = NonNullable<AggregateQuery['after']>;

function readRankCursor(place: unknown): RankCursor | null {
  if (!Array.isArray(place) || place.length !== 2 || typeof place[1] !== 'string') return null;
  const [cost, key] = place as [unknown, string];
  return typeof cost === 'string' && /^\d{1,40}$/.test(cost) ? { value: BigInt(cost), key } : null;
}

const Query = z.strictObject({
  tz: tzParam,
  limit: limitParam(100, 1000, 'Projects per page, costliest first; 0 for the global figures only (ranking 100,000 projects costs a pass over all of them).', 0),
  cursor: cursorParam<RankCursor>(readRankCursor),
});

const CurrentMonthStats = z.object({
  month: z.string().describe('YYYY-MM'),
  tz: z.string(),
  from: z.string().describe('start of the month in the zone, RFC 3339 UTC'),
  to: z.string().describe('start of the next month in the zone, RFC 3339 UTC'),
  as_of: z.string().describe('when the figures were taken, RFC 3339 UTC'),
  global: ApiMetrics,
  projects: z.array(ApiMetrics.extend({ project: z.string() })).describe('a page of the projects: costliest first, equal costs by project id'),
  next_cursor: z.string().nullable().describe('pass it as `cursor` for the next page of projects; null on the last one'),
});

export interface Month {
  /** `YYYY-MM` in the zone. */
  month: string;
  from: number;
  to: number;
}

/** The month holding `now` in `zone`. */
export function monthOf(now: number, zone: string): Month {
  const from = startOfMonth(now, zone);
  const to = startOfMonth(now, zone, 1);
  // The middle of the month is inside it in every zone.
  return { month: new Date(from + (to - from) / 2).toISOString().slice(0, 7), from, to };
}

/**
 * Month-to-date figures per project: the costliest `limit` after `after`, or those of `projects`.
 * The UTC month is answered from the rollup; another zone's month boundaries need the raw events
 * (the planner decides).
 */
export async function monthByProject(
  store: Store, month: Month, page: { limit: number; after?: RankCursor } | { projects: string[] },
): Promise<{ totals: ExactMetrics; projects: { project: string; metrics: ExactMetrics }[]; more: boolean }> {
  // No page of projects at limit 0, so nothing for a cursor to start after.
  const globalOnly = 'limit' in page && page.limit === 0;
  const result = await store.aggregate(plan({
    groupBy: globalOnly ? [] : ['project'], from: month.from, to: month.to, order: { by: 'cost_nanos', dir: 'desc' },
    ...('projects' in page ? { filters: { project: page.projects }, limit: null } : { filters: {}, limit: page.limit, after: globalOnly ? undefined : page.after }),
  }));
  return { totals: result.totals, projects: result.groups.map((g) => ({ project: g.key.project!, metrics: g.metrics })), more: result.more };
}

/** GET /v1/stats/current-month — month-to-date figures, global and per project (`tz`: another zone's month), a page of projects at a time. */
export function registerCurrentMonthStats(api: ReportingApi, deps: ReportingDeps): void {
  api.route({
    method: 'get', path: '/v1/stats/current-month', tag: 'reports', role: 'read', query: Query,
    summary: 'Month-to-date figures, global and per project',
    responses: { 200: { description: 'The current month', schema: CurrentMonthStats } },
  }, async (c, { tz: zone, limit, cursor }) => {
    const now = deps.now();
    const month = monthOf(now, zone);
    const mtd = await monthByProject(c.var.store, month, { limit, after: cursor });
    const last = mtd.projects[mtd.projects.length - 1];
    return exactJsonAnswer(c, {
      month: month.month,
      tz: zone,
      from: isoUtc(month.from),
      to: isoUtc(month.to),
      as_of: isoUtc(now),
      global: apiMetrics(mtd.totals),
      projects: mtd.projects.map((p) => ({ project: p.project, ...apiMetrics(p.metrics) })),
      next_cursor: mtd.more && last ? encodeCursor([String(last.metrics.exact?.cost_nanos ?? last.metrics.cost_nanos), last.project]) : null,
    } satisfies z.infer<typeof CurrentMonthStats>);
  });
}
