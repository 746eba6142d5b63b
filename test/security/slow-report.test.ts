import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecords } from '../../bench/events.js';
import { createPricer, loadPriceTable } from '../../src/pricing/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * A report that takes long (issue 17: with 100,000 projects the month's ranking took 0.4-4 s on
 * SQLite) must not hold the event loop while it runs: /healthz, asked meanwhile, answers at once.
 * Before the reads left the main thread, /healthz waited for every report in front of it.
 */

const NOW = Date.UTC(2026, 10, 28, 12);
const MONTH_START = Date.UTC(2026, 10, 1);
const PROJECTS = 100_000;
const EVENTS = 200_000;
/** A generous bound for one /healthz on a loaded two-core machine. */
const HEALTHZ_MS = 2_000;

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ now: () => NOW });
  // Written through a store of its own on the service's file, as a second process would.
  const store = new SqliteStore(svc.databaseUrl, { synchronous: 'NORMAL' });
  const pricer = createPricer(loadPriceTable({}));
  for (let n = 0; n < EVENTS; n += 10_000) {
    const records = makeRecords(n, 10_000, pricer, NOW);
    records.forEach((r, i) => {
      r.project = `project-${(n + i) % PROJECTS}`;
      r.ts = MONTH_START + ((n + i) * 7_919) % (NOW - MONTH_START);
    });
    await store.insertBatch(records);
  }
  await store.close();
}, 120_000);
afterAll(() => svc.close());

describe('a slow report beside /healthz', () => {
  it('ranking 100,000 projects three times at once leaves /healthz answering meanwhile', async () => {
    const started = performance.now();
    const reports = Promise.all(['limit=1000', 'limit=1000&tz=Europe/Paris', 'limit=0&tz=Asia/Tokyo'].map(async (query) => {
      const res = await fetch(`${svc.reportingUrl}/v1/stats/current-month?${query}`);
      expect(res.status).toBe(200);
      return (await res.json()) as { global: { events: number } };
    }));
    let reportsDone = false;
    void reports.finally(() => (reportsDone = true));
    const probes: number[] = [];
    await new Promise((resolve) => setTimeout(resolve, 20));
    while (!reportsDone) {
      const asked = performance.now();
      expect((await fetch(`${svc.reportingUrl}/healthz`)).status).toBe(200);
      if (!reportsDone) probes.push(performance.now() - asked);
    }
    const reportsMs = performance.now() - started;
    for (const answer of await reports) expect(answer.global.events).toBe(EVENTS);
    // Answered while the reports ran, each in a small part of their time.
    expect(probes.length, `reports took ${reportsMs.toFixed(0)} ms`).toBeGreaterThanOrEqual(2);
    expect(Math.max(...probes)).toBeLessThan(Math.min(HEALTHZ_MS, reportsMs / 2));
  }, 60_000);
});
