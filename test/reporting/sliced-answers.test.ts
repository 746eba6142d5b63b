import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { exactJson, exactJsonAnswer, mapLater } from '../../reporting/json.js';
import { plan } from '../../src/store/planner.js';
import { POSTGRES_DIALECT } from '../../src/store/postgres-queries.js';
import { aggregateSql, type SqlRow } from '../../src/store/query-builder.js';
import { groupsFromRows, groupsFromRowsInTurns } from '../../src/store/report-rows.js';
import { turnsDuring } from '../support/turns.js';

/**
 * A large answer is written in slices with the event loop free in between (issue 17); its bytes
 * must be those of the one-piece serialisation, BigInt sums exact, whatever the shape.
 */

/** The answer's body, and how many chunks it came in. */
async function answer(value: unknown): Promise<{ text: string; chunks: number; type: string | null }> {
  const app = new Hono().get('/', (c) => exactJsonAnswer(c, value));
  const res = await app.request('/');
  expect(res.status).toBe(200);
  const decoder = new TextDecoder();
  let text = '';
  let chunks = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    chunks++;
  }
  return { text: text + decoder.decode(), chunks, type: res.headers.get('content-type') };
}

const group = (i: number) => ({
  key: { run: `run-${i}`, model: i % 3 ? 'gpt-4o' : null, label: 'é "quoted" \\ \u2028' },
  events: i, cost_usd: i / 7, input_tokens: i % 1000 === 0 ? 2n ** 64n + BigInt(i) : i * 1000,
  other: i % 2 ? true : undefined, skipped: () => i, at: new Date(i * 1000),
});

describe('answers written in slices', () => {
  it('a report of 20,000 groups is byte-identical to the one-piece serialisation, BigInts exact, and comes in many chunks', async () => {
    const report = { from: 'a', totals: { events: 2n ** 70n }, groups: Array.from({ length: 20_000 }, (_, i) => group(i)), sparse: [1, undefined, () => 1, Symbol('s')], none: undefined };
    const { text, chunks, type } = await answer(report);
    expect(text).toBe(exactJson(report));
    expect(text).toContain(`"input_tokens":${2n ** 64n + 5000n}`);
    expect((JSON.parse(text) as { groups: unknown[] }).groups).toHaveLength(20_000);
    expect(type).toBe('application/json');
    expect(chunks).toBeGreaterThan(1);
  });

  it('series with many points each, inside a short array (the Grafana shape), are sliced the same way', async () => {
    const series = Array.from({ length: 3 }, (_, s) => ({ target: `s${s}`, datapoints: Array.from({ length: 100_000 }, (_, i) => [i / 3, i * 3_600_000]) }));
    const { text, chunks } = await answer(series);
    expect(text).toBe(JSON.stringify(series));
    expect(chunks).toBeGreaterThan(1);
  });

  it('a list made as it is written (mapLater) has the text of the made list, and is made a slice at a time, not before the first bytes', async () => {
    const items = Array.from({ length: 20_000 }, (_, i) => i);
    let made = 0;
    const report = { totals: { events: 2n ** 70n }, groups: mapLater(items, (i) => (made++, group(i))), few: mapLater([1, 2], (i) => ({ i })), none: mapLater([], (i) => i) };
    const app = new Hono().get('/', (c) => exactJsonAnswer(c, report));
    const res = await app.request('/');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    // The first chunk is out while most groups are still to be made: building them all before
    // writing would hold the event loop for the whole list.
    expect(made).toBeLessThan(items.length);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    text += decoder.decode();
    expect(made).toBe(items.length);
    const eager = { totals: report.totals, groups: items.map(group), few: [{ i: 1 }, { i: 2 }], none: [] };
    expect(text).toBe(exactJson(eager));
    // Serialised whole (exactJson, c.json), it gives the same text.
    expect(exactJson(report)).toBe(text);
  });

  it('a long array of series whose points are made as written (Grafana, 17 series and more) writes each series a slice at a time', async () => {
    let made = 0;
    const points = Array.from({ length: 50_000 }, (_, i) => i);
    const series = Array.from({ length: 20 }, (_, s) => ({ target: `s${s}`, datapoints: mapLater(s ? [s] : points, (i) => (made++, [i / 3, i * 3_600_000])) }));
    const app = new Hono().get('/', (c) => exactJsonAnswer(c, series));
    const reader = ((await app.request('/')).body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    // Written whole, the first series' 50,000 points would be made in one piece before any bytes.
    expect(made).toBeLessThan(points.length);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    text += decoder.decode();
    expect(text).toBe(exactJson(series));
  });

  it('a small answer is one body, as before', async () => {
    const small = { a: [1, 2, { b: 3n }], c: 'd' };
    const app = new Hono().get('/', (c) => exactJsonAnswer(c, small));
    const res = await app.request('/');
    expect(await res.text()).toBe('{"a":[1,2,{"b":3}],"c":"d"}');
  });

  it('report rows read on the main thread (PostgreSQL) become groups with the event loop turning between slices, the same groups as in one piece', async () => {
    const query = plan({ groupBy: ['hour', 'project'], filters: {}, from: Date.UTC(2026, 11, 1), to: Date.UTC(2026, 11, 5), order: null, limit: null });
    const { parts } = aggregateSql(query, POSTGRES_DIALECT).groups;
    const rows = (): SqlRow[] => Array.from({ length: 5_000 }, (_, i) =>
      Object.fromEntries([['k_hour', `2026-12-01T${String(i % 24).padStart(2, '0')}`], ['k_project', `p${i}`], ...parts.map((p) => [p.alias, i])]));
    const { result: inTurns, turns } = await turnsDuring(() => groupsFromRowsInTurns(query, rows(), parts));
    // In one piece, nothing else would run until every row was a group.
    expect(turns).toBeGreaterThanOrEqual(4);
    expect(inTurns).toEqual(groupsFromRows(query, rows(), parts));
    expect(inTurns!.groups).toHaveLength(5_000);
  });
});
