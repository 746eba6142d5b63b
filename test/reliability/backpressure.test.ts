import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchWriter } from '../../collector/writer.js';
import { normalise } from '../../src/event/normalise.js';
import { UsageEventInput } from '../../src/event/schema.js';
import { ApiError } from '../../src/http/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';
import { scratchDir } from '../support/scratch-dirs.js';

const events = (prefix: string, n: number, extra: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, agent_id: 'a', model: 'm', input_tokens: 1, ...extra }));

/** Holds the database's write lock from a second connection, as another process would. */
function lockDatabase(svc: TestService) {
  const other = new Database(join(svc.dir, 'usage.db'));
  other.exec('BEGIN IMMEDIATE');
  return () => {
    other.exec('ROLLBACK');
    other.close();
  };
}

const queued = (svc: TestService, n: number) =>
  until(async () => (await metricValue(svc.collectorUrl, 'tokentally_queue_events')) === n, `${n} queued events`);
const count = (svc: TestService) => svc.report<{ totals: { events: number } }>('/v1/reports/usage?from=2000-01-01').then((r) => r.body.totals.events);

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

describe('a bounded queue', () => {
  it('refuses with 429 and Retry-After when the events waiting would exceed QUEUE_MAX_EVENTS, and stores the waiting ones', async () => {
    svc = await startTestService({ env: { QUEUE_MAX_EVENTS: '10', MAX_EVENTS_PER_REQUEST: '10', WRITE_RETRY_MS: '20000' } });
    const unlock = lockDatabase(svc);
    const waiting = svc.ingest('/v1/usage', { events: events('a', 8) });
    await queued(svc, 8);
    const refused = await svc.ingest('/v1/usage', { events: events('b', 3) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await refused.json()).error).toMatchObject({ code: 'queue_full', message: expect.stringMatching(/8 events/) });
    unlock();
    expect((await (await waiting).json()).accepted).toBe(8);
    expect(await count(svc)).toBe(8);
  });

  it('refuses with 429 when the bytes waiting would exceed QUEUE_MAX_BYTES, but always takes a request into an empty queue', async () => {
    svc = await startTestService({ env: { QUEUE_MAX_BYTES: '4000', WRITE_RETRY_MS: '20000' } });
    const unlock = lockDatabase(svc);
    const big = { attributes: { note: 'x'.repeat(1000) } };
    const waiting = svc.ingest('/v1/usage', { events: events('a', 5, big) });
    await queued(svc, 5);
    const refused = await svc.ingest('/v1/usage', { events: events('b', 1, big) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    unlock();
    expect((await waiting).status).toBe(200);
    expect(await count(svc)).toBe(5);
  });
});

describe('the writer while draining', () => {
  it('refuses new events with 503 and Retry-After, and commits what it already took', async () => {
    const store = new SqliteStore(join(scratchDir('tokentally-drain-'), 'usage.db'));
    await store.migrate();
    const writer = new BatchWriter(store, { maxQueuedEvents: 100, maxQueuedBytes: 1e6, maxBatchEvents: 10, retryForMs: 1000 });
    const records = events('d', 3).map((e) => normalise(UsageEventInput.parse(e), Date.now()));
    const accepted = writer.submit(records);
    const draining = writer.drain();
    const refused = await writer.submit(records).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 503, code: 'draining', retryAfter: 1 });
    expect(await accepted).toEqual([true, true, true]);
    await draining;
    await store.close();
  });
});
