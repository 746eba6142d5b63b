import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AggregateQuery, Dimension, EventCursor, Filters, GroupKey, StoredEvent } from '../../src/store/types.js';
import { DIMENSIONS, TIME_BUCKETS } from '../../src/store/types.js';
import { zoneSegments } from '../../src/zone.js';
import { randomEvent, rng, VALUES } from '../support/random.js';
import { POSTGRES_OPTED_OUT } from '../support/postgres.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * The same events into SQLite and PostgreSQL, then random questions to both: every answer must be
 * identical, rollup and raw, in UTC and in zones with odd offsets and DST changes inside the range.
 */
let sqlite: TestService;
let postgres: TestService;
const r = rng(20261125);
const FROM = Date.UTC(2026, 9, 1);
const TO = Date.UTC(2026, 11, 1);
const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Chatham'];

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  [sqlite, postgres] = await Promise.all([startTestService({ backend: 'sqlite' }), startTestService({ backend: 'postgres' })]);
  // Sent one batch at a time, so a repeated id resolves to the same event on both sides.
  for (let b = 0; b < 20; b++) {
    const events = Array.from({ length: r.int(1, 200) }, () => ({ ...randomEvent(r, 3000), timestamp: r.int(FROM, TO - 1) }));
    const answers = await Promise.all([sqlite, postgres].map((s) => s.ingest('/v1/usage', { events }).then((res) => res.json())));
    expect(answers[1]).toEqual(answers[0]);
  }
});
afterAll(() => Promise.all([sqlite?.close(), postgres?.close()]));

const FILTER_VALUES: Partial<Record<Dimension, readonly (string | undefined)[]>> = {
  project: VALUES.project, agent: VALUES.agent, model: VALUES.model, provider: VALUES.provider, task: VALUES.task,
  run: VALUES.run, operation: VALUES.operation, status: VALUES.status, cost_source: ['reported', 'computed', 'unpriced'],
};

function randomFilters(): Filters {
  const filters: Filters = {};
  for (const [d, values] of r.subset(Object.entries(FILTER_VALUES))) filters[d as Dimension] = r.subset(values!.map((v) => v ?? '')).slice(0, 2);
  return filters;
}

function randomRange(): { from: number; to: number } {
  const a = r.int(FROM - 86_400_000, TO);
  const b = r.int(a, TO + 86_400_000);
  // Half on UTC midnights, so the rollup can answer.
  return r.next() < 0.5 ? { from: a - (a % 86_400_000), to: b - (b % 86_400_000) } : { from: a, to: b };
}

function randomQuery(): AggregateQuery {
  const { from, to } = randomRange();
  const rollup = r.next() < 0.4 && from % 86_400_000 === 0 && to % 86_400_000 === 0;
  const zone = rollup ? 'UTC' : r.pick(ZONES);
  const groupChoices: GroupKey[] = rollup
    ? ['project', 'agent', 'model', 'provider', 'task', 'day', 'week', 'month']
    : [...DIMENSIONS, ...TIME_BUCKETS];
  const filters = randomFilters();
  if (rollup) for (const d of Object.keys(filters)) if (!['project', 'agent', 'model', 'provider', 'task'].includes(d)) delete filters[d as Dimension];
  return {
    source: rollup ? 'rollup' : 'raw',
    groupBy: r.subset(groupChoices).slice(0, 3),
    filters,
    from,
    to,
    order: r.next() < 0.5 ? null : { by: r.pick(['cost_nanos', 'events', 'total_tokens', 'computed_cost_nanos', 'unpriced_events'] as const), dir: r.pick(['asc', 'desc'] as const) },
    limit: r.next() < 0.3 ? r.int(1, 5) : null,
    ...(zone === 'UTC' ? {} : { zone: zoneSegments(zone, from, to) }),
  };
}

describe.skipIf(POSTGRES_OPTED_OUT)('SQLite and PostgreSQL give identical answers', () => {
  it('both hold the same rollup and it equals their raw sums', async () => {
    expect(await sqlite.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
    expect(await postgres.store.verify()).toMatchObject({ ok: true, mismatches: 0 });
  });

  it('300 random aggregate queries (rollup and raw, filters, orders, limits, time zones)', async () => {
    for (let i = 0; i < 300; i++) {
      const q = randomQuery();
      const [a, b] = await Promise.all([sqlite.store.aggregate(q), postgres.store.aggregate(q)]);
      expect(b, JSON.stringify(q)).toEqual(a);
    }
  });

  it('the same raw events page by page, newest first', async () => {
    // seq and received_at are each database's own bookkeeping; everything else must match.
    const strip = (events: { seq: number; received_at: number }[]) => events.map(({ seq: _s, received_at: _r, ...rest }) => rest);
    for (let i = 0; i < 30; i++) {
      const { from, to } = randomRange();
      const query = { filters: randomFilters(), from, to, limit: r.int(1, 50), after: null };
      const [a, b] = await Promise.all([sqlite.store.listEvents(query), postgres.store.listEvents(query)]);
      expect(strip(b.events), JSON.stringify(query)).toEqual(strip(a.events));
      expect(b.next === null).toBe(a.next === null);
    }
  });

  it('the same raw events through every page when filtered by project, agent or model', async () => {
    // SQLite reads such a list hour by hour (usage_hours); a page may end inside a run of hours or between two.
    const strip = (events: { seq: number; received_at: number }[]) => events.map(({ seq: _s, received_at: _r, ...rest }) => rest);
    for (let i = 0; i < 12; i++) {
      const filters = randomFilters();
      const dimension = r.pick(['project', 'agent', 'model'] as const);
      filters[dimension] = r.subset(FILTER_VALUES[dimension]!.map((v) => v ?? '')).slice(0, 2);
      const range = r.next() < 0.3 ? { from: null, to: null } : randomRange();
      const limit = r.int(1, 60);
      const [a, b] = await Promise.all([sqlite, postgres].map(async (service) => {
        const events: StoredEvent[] = [];
        for (let after: EventCursor | null = null, pages = 0; pages === 0 || after; pages++) {
          const page = await service.store.listEvents({ filters, ...range, limit, after });
          events.push(...page.events);
          after = page.next;
        }
        return events;
      }));
      expect(strip(b!), JSON.stringify({ filters, range, limit })).toEqual(strip(a!));
    }
  });

  it.each(ZONES)('the same HTTP time series by day and hour in %s', async (zone) => {
    for (const interval of ['hour', 'day', 'week', 'month']) {
      const path = `/v1/reports/timeseries?interval=${interval}&from=2026-10-20&to=2026-11-10&group_by=model&tz=${zone}`;
      const [a, b] = await Promise.all([sqlite.report(path), postgres.report(path)]);
      expect(a.status).toBe(200);
      expect(b, path).toEqual(a);
    }
  });
});
