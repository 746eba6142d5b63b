import { isoUtc } from '../../src/time.js';
import { nanosToUsd } from '../../src/event/normalise.js';
import { badRequest } from '../../src/http/errors.js';
import type { EventCursor, StoredEvent } from '../../src/store/types.js';
import type { ReportingApp, ReportingDeps } from '../app.js';
import { parseFilters, parseInstant, parseLimit, rejectUnknownParams, singleParam } from '../params.js';

const OPTIONAL_DIMENSIONS = ['provider', 'operation', 'task_label', 'run_id', 'step_id', 'session_id', 'user_id'] as const;

/** An event as the API shows it: the canonical model, absent fields as null, cost in dollars. */
export function apiEvent(e: StoredEvent) {
  return {
    id: e.id,
    timestamp: isoUtc(e.ts),
    project: e.project,
    agent_id: e.agent_id,
    model: e.model,
    ...Object.fromEntries(OPTIONAL_DIMENSIONS.map((d) => [d, e[d] === '' ? null : e[d]])),
    input_tokens: e.input_tokens,
    output_tokens: e.output_tokens,
    cache_read_tokens: e.cache_read_tokens,
    cache_write_tokens: e.cache_write_tokens,
    reasoning_tokens: e.reasoning_tokens,
    cost_usd: nanosToUsd(e.cost_nanos),
    cost_source: e.cost_source,
    duration_ms: e.duration_ms,
    status: e.status,
    attributes: e.attributes === null ? {} : (JSON.parse(e.attributes) as Record<string, unknown>),
    received_at: isoUtc(e.received_at),
  };
}

function encodeCursor(cursor: EventCursor): string {
  return Buffer.from(`${cursor.ts}.${cursor.seq}`).toString('base64url');
}

function decodeCursor(text: string): EventCursor {
  const match = /^(\d+)\.(\d+)$/.exec(Buffer.from(text, 'base64url').toString());
  if (!match) throw badRequest('cursor: not a cursor this API gave out (use next_cursor from the previous page)');
  return { ts: Number(match[1]), seq: Number(match[2]) };
}

/** GET /v1/events — raw events, newest first, filtered by any dimension, with cursor pagination. */
export function registerEvents(app: ReportingApp, deps: ReportingDeps): void {
  app.get('/v1/events', async (c) => {
    rejectUnknownParams(c, ['from', 'to', 'limit', 'cursor']);
    const from = singleParam(c, 'from');
    const to = singleParam(c, 'to');
    const cursor = singleParam(c, 'cursor');
    const page = await c.var.store.listEvents({
      filters: parseFilters(c),
      from: from === undefined ? null : parseInstant('from', from),
      to: to === undefined ? null : parseInstant('to', to),
      limit: parseLimit(c, 100, 1000),
      after: cursor === undefined ? null : decodeCursor(cursor),
    });
    return c.json({ events: page.events.map(apiEvent), next_cursor: page.next ? encodeCursor(page.next) : null });
  });
}
