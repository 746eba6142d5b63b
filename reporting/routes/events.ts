import { z } from 'zod';
import { isoUtc } from '../../src/time.js';
import { nanosToUsd } from '../../src/event/normalise.js';
import { COST_SOURCES } from '../../src/event/schema.js';
import { once } from '../../src/http/query.js';
import type { EventCursor, StoredEvent } from '../../src/store/types.js';
import type { ReportingApi } from '../app.js';
import { exactJsonAnswer } from '../json.js';
import { FILTER_PARAMS, filtersOf, instantMs, instantParam, limitParam } from '../params.js';

const OPTIONAL_DIMENSIONS = ['provider', 'operation', 'task_label', 'run_id', 'step_id', 'session_id', 'user_id'] as const;

const optional = z.string().nullable();
const count = z.number().int().min(0);

/** An event as the API shows it: the canonical model, absent fields as null, cost in dollars. */
const ApiEvent = z.object({
  id: z.string(),
  timestamp: z.iso.datetime(),
  project: z.string(),
  agent_id: z.string(),
  model: z.string(),
  ...Object.fromEntries(OPTIONAL_DIMENSIONS.map((d) => [d, optional])) as Record<(typeof OPTIONAL_DIMENSIONS)[number], typeof optional>,
  input_tokens: count,
  output_tokens: count,
  cache_read_tokens: count,
  cache_write_tokens: count,
  reasoning_tokens: count,
  cost_usd: z.number(),
  cost_source: z.enum(COST_SOURCES),
  duration_ms: z.number().nullable(),
  status: z.enum(['ok', 'error']),
  attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  received_at: z.iso.datetime(),
});

export function apiEvent(e: StoredEvent): z.infer<typeof ApiEvent> {
  return {
    id: e.id,
    timestamp: isoUtc(e.ts),
    project: e.project,
    agent_id: e.agent_id,
    model: e.model,
    ...(Object.fromEntries(OPTIONAL_DIMENSIONS.map((d) => [d, e[d] === '' ? null : e[d]])) as Record<(typeof OPTIONAL_DIMENSIONS)[number], string | null>),
    input_tokens: e.input_tokens,
    output_tokens: e.output_tokens,
    cache_read_tokens: e.cache_read_tokens,
    cache_write_tokens: e.cache_write_tokens,
    reasoning_tokens: e.reasoning_tokens,
    cost_usd: nanosToUsd(e.cost_nanos),
    cost_source: e.cost_source,
    duration_ms: e.duration_ms,
    status: e.status,
    attributes: e.attributes === null ? {} : (JSON.parse(e.attributes) as Record<string, string | number | boolean>),
    received_at: isoUtc(e.received_at),
  };
}

function encodeCursor(cursor: EventCursor): string {
  return Buffer.from(`${cursor.ts}.${cursor.seq}`).toString('base64url');
}

const cursorParam = once(z.string().transform((text, ctx): EventCursor => {
  const match = /^(\d+)\.(\d+)$/.exec(Buffer.from(text, 'base64url').toString());
  if (match) return { ts: Number(match[1]), seq: Number(match[2]) };
  ctx.addIssue({ code: 'custom', message: 'not a cursor this API gave out (use next_cursor from the previous page)' });
  return z.NEVER;
})).optional().describe('`next_cursor` of the previous page');

const Query = z.strictObject({
  from: instantParam('Only events at or after this date (UTC midnight) or RFC 3339 date-time.', '2026-11-01'),
  to: instantParam('Only events before this date or date-time.', '2026-12-01'),
  limit: limitParam(100, 1000, 'Events per page.'),
  cursor: cursorParam,
  ...FILTER_PARAMS,
});

const EventsPage = z.object({
  events: z.array(ApiEvent),
  next_cursor: z.string().nullable().describe('pass it as `cursor` for the next page; null on the last one'),
});

/** GET /v1/events — raw events, newest first, filtered by any dimension, with cursor pagination. */
export function registerEvents(api: ReportingApi): void {
  api.route({
    method: 'get', path: '/v1/events', tag: 'events', role: 'read', query: Query,
    summary: 'Raw events, newest first, a page at a time',
    responses: { 200: { description: 'A page of events', schema: EventsPage } },
  }, async (c, q) => {
    const page = await c.var.store.listEvents({
      filters: filtersOf(q),
      from: q.from === undefined ? null : instantMs(q.from),
      to: q.to === undefined ? null : instantMs(q.to),
      limit: q.limit,
      after: q.cursor ?? null,
    });
    return exactJsonAnswer(c, { events: page.events.map(apiEvent), next_cursor: page.next ? encodeCursor(page.next) : null } satisfies z.infer<typeof EventsPage>);
  });
}
