import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';

/**
 * /v1/stats/current-month pages through projects by month-to-date cost, and its cursor carries the
 * last project's cost exactly: past 2^53 nano-dollars (about $9M) neighbouring costs are one double,
 * and past 2^62 the SQLite rollup keeps a cost in two columns. Every page size walks the whole
 * ranking once, in order, from the rollup (UTC) and from raw events (another zone's month).
 */
const NOW = Date.UTC(2026, 10, 20, 12);
const DAY = Date.UTC(2026, 10, 10, 12);
const MILLION = 10n ** 15n;

/** Each project's month-to-date cost in nano-dollars: $1M events, then 1-nano-dollar ones. */
const COSTS: Record<string, bigint> = {
  h2: 4700n * MILLION + 1n,
  h1: 4700n * MILLION,
  p4: 10n * MILLION + 3n,
  p3: 10n * MILLION + 2n,
  p0: 10n * MILLION + 1n,
  p1: 10n * MILLION + 1n,
  p2: 10n * MILLION,
  q: 1000n,
  r: 1000n,
};
const RANKED = Object.entries(COSTS).sort(([a, x], [b, y]) => (x === y ? (a < b ? -1 : 1) : x > y ? -1 : 1)).map(([p]) => p);

function events(project: string, cost: bigint) {
  const millions = Number(cost / MILLION);
  const nanos = Number(cost % MILLION);
  return [
    ...Array.from({ length: millions }, () => 1_000_000),
    ...Array.from({ length: nanos }, () => 1e-9),
  ].map((cost_usd, i) => ({ id: `${project}-${i}`, project, timestamp: DAY + i, agent_id: 'a', model: 'm', input_tokens: 1, cost_usd }));
}

describe.each(BACKENDS)('on %s, /v1/stats/current-month pages by exact cost', (backend) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ backend, now: () => NOW });
    const all = Object.entries(COSTS).flatMap(([project, cost]) => events(project, cost));
    for (let start = 0; start < all.length; start += 4000) {
      const batch = all.slice(start, start + 4000);
      expect(await (await svc.ingest('/v1/usage', { events: batch })).json()).toMatchObject({ accepted: batch.length });
    }
  });
  afterAll(() => svc?.close());

  async function walk(query: string): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const { status, body } = await svc.report(`/v1/stats/current-month?${query}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status, JSON.stringify(body)).toBe(200);
      seen.push(...body.projects.map((p: { project: string }) => p.project));
      cursor = body.next_cursor;
      expect(seen.length).toBeLessThanOrEqual(RANKED.length);
    } while (cursor !== null);
    return seen;
  }

  it.each(['1', '2', '4'])('limit=%s, UTC (rollup) and America/New_York (raw): every project once, costliest first', async (limit) => {
    expect(await walk(`limit=${limit}`)).toEqual(RANKED);
    expect(await walk(`limit=${limit}&tz=America/New_York`)).toEqual(RANKED);
  });

  it('a cursor holds the cost as its exact digits', async () => {
    const { body } = await svc.report('/v1/stats/current-month?limit=3');
    expect(JSON.parse(Buffer.from(body.next_cursor, 'base64url').toString())).toEqual([String(COSTS.p4), 'p4']);
    const forged = Buffer.from(JSON.stringify([Number(COSTS.p4), 'p4'])).toString('base64url');
    expect((await svc.report(`/v1/stats/current-month?cursor=${forged}`)).status).toBe(400);
  });

  it('limit=0 answers the global figures whatever the cursor', async () => {
    const whole = await svc.report('/v1/stats/current-month?limit=0');
    const { body: page } = await svc.report('/v1/stats/current-month?limit=3');
    const after = await svc.report(`/v1/stats/current-month?limit=0&cursor=${page.next_cursor}`);
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body).toEqual(whole.body);
    expect(after.body).toMatchObject({ projects: [], next_cursor: null });
  });
});
