import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchWriter } from '../../collector/writer.js';
import { normalise } from '../../src/event/normalise.js';
import { UsageEventInput, type UsageRecord } from '../../src/event/schema.js';
import { ApiError } from '../../src/http/errors.js';
import type { Store } from '../../src/store/types.js';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

const events = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, agent_id: 'a', model: 'm', timestamp: '2026-11-03T10:00:00Z', input_tokens: 1 }));
const records = (prefix: string, n: number) => events(prefix, n).map((e) => normalise(UsageEventInput.parse(e), Date.now()));

/** A store whose commits the test settles one by one, in the order handed over. */
function heldStore() {
  const commits: { records: readonly UsageRecord[]; resolve(inserted: boolean[]): void; reject(error: Error): void }[] = [];
  const store = {
    insertsInFlight: Number.POSITIVE_INFINITY,
    insertBatch: (batch: readonly UsageRecord[]) => new Promise<boolean[]>((resolve, reject) => commits.push({ records: batch, resolve, reject })),
  } as unknown as Store;
  return { store, commits };
}
const options = { maxQueuedEvents: 100, maxQueuedBytes: 1e6, maxBatchEvents: 1000, retryForMs: 0 };
const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('a request handed over in parts', () => {
  it('is committed part by part, and answered only once every part is durable, in order', async () => {
    const { store, commits } = heldStore();
    const writer = new BatchWriter(store, options);
    const reservation = writer.reserve(5, 1000);
    reservation.add(records('p', 3));
    // The first part goes to the store before the request's other records exist.
    expect(commits.map((c) => c.records.length)).toEqual([3]);
    reservation.add(records('q', 2));
    const committed = reservation.committed();
    commits[1]!.resolve([true, false]);
    expect(await settled(committed)).toBe(false);
    expect(writer.queuedEvents).toBe(5);
    commits[0]!.resolve([false, true, true]);
    expect(await committed).toEqual([false, true, true, true, false]);
    expect(writer.queuedEvents).toBe(0);
  });

  it('fails with a later part, after the earlier ones are settled', async () => {
    const { store, commits } = heldStore();
    const writer = new BatchWriter(store, options);
    const reservation = writer.reserve(4, 1000);
    reservation.add(records('p', 2));
    reservation.add(records('q', 2));
    const committed = reservation.committed().catch((e: unknown) => e);
    commits[1]!.reject(new Error('disk gone'));
    expect(await settled(committed)).toBe(false);
    commits[0]!.resolve([true, true]);
    expect(await committed).toMatchObject({ status: 503, code: 'storage_unavailable' });
    expect(writer.queuedEvents).toBe(0);
  });

  it('holds its place from the start: a request that does not fit is refused before any record is handed over', async () => {
    const { store, commits } = heldStore();
    const writer = new BatchWriter(store, options);
    writer.reserve(60, 1000).add(records('p', 10));
    expect(() => writer.reserve(41, 1000)).toThrow(expect.objectContaining({ status: 429, code: 'queue_full' }) as unknown as Error);
    expect(commits).toHaveLength(1);
  });

  it('is still committed when draining begins between its parts', async () => {
    const { store, commits } = heldStore();
    const writer = new BatchWriter(store, options);
    const reservation = writer.reserve(4, 1000);
    reservation.add(records('p', 2));
    const drained = writer.drain();
    expect(() => writer.reserve(1, 10)).toThrow(ApiError);
    commits[0]!.resolve([true, true]);
    expect(await settled(drained)).toBe(false);
    reservation.add(records('q', 2));
    const committed = reservation.committed();
    commits[1]!.resolve([true, true]);
    expect(await committed).toEqual([true, true, true, true]);
    await drained;
  });
});

describe('POST /v1/usage in parts', () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it('answers a 1,000-event batch with every part counted: stored, duplicates across parts, rejected', async () => {
    svc = await startTestService();
    const first = await svc.ingest('/v1/usage', { events: events('e', 1000).filter((_, i) => i % 3 === 0) });
    expect(await first.json()).toMatchObject({ accepted: 334, duplicates: 0 });
    const batch = events('e', 1000).map((e, i) => (i % 250 === 7 ? { ...e, input_tokens: -1 } : e));
    const res = await svc.ingest('/v1/usage', { events: batch });
    const answer = await res.json();
    expect(res.status).toBe(200);
    expect(answer).toMatchObject({ accepted: 663, duplicates: 333, rejected: 4 });
    expect(answer.errors.map((e: { index: number }) => e.index)).toEqual([7, 257, 507, 757]);
    const report = await svc.report<{ totals: { events: number } }>('/v1/reports/usage?from=2026-11-01&to=2026-12-01');
    expect(report.body.totals.events).toBe(997);
  });

  it('refuses with 429 a batch larger than a part that does not fit in the queue, and stores none of it', async () => {
    svc = await startTestService({ env: { QUEUE_MAX_EVENTS: '1000', MAX_EVENTS_PER_REQUEST: '1000', WRITE_RETRY_MS: '20000' } });
    const other = new Database(join(svc.dir, 'usage.db'));
    other.exec('BEGIN IMMEDIATE');
    const waiting = svc.ingest('/v1/usage', { events: events('a', 500) });
    await until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_queue_events')) === 500, '500 queued events');
    const refused = await svc.ingest('/v1/usage', { events: events('b', 600) });
    expect(refused.status).toBe(429);
    other.exec('ROLLBACK');
    other.close();
    expect(await (await waiting).json()).toMatchObject({ accepted: 500 });
    const report = await svc.report<{ totals: { events: number } }>('/v1/reports/usage?from=2026-11-01&to=2026-12-01');
    expect(report.body.totals.events).toBe(500);
  });
});
