import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { metricValue, until } from '../support/wait.js';

const batch = (prefix: string, n: number) => ({
  events: Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, agent_id: 'a', model: 'm', input_tokens: 10 })),
});
const readyz = async (svc: TestService) => {
  const res = await fetch(`${svc.collectorUrl}/readyz`);
  return { status: res.status, body: await res.json() };
};
const stored = (svc: TestService) =>
  svc.report<{ totals: { events: number; input_tokens: number } }>('/v1/reports/usage?from=2000-01-01').then((r) => r.body.totals);

let svc: TestService | undefined;
let other: Database.Database | undefined;
afterEach(async () => {
  if (other?.inTransaction) other.exec('ROLLBACK');
  other?.close();
  other = undefined;
  await svc?.close();
  svc = undefined;
});

// The insert thread retries on its own (on), the calling thread otherwise (off).
describe.each(['on', 'off'])('a busy or failing database, SQLITE_WRITE_THREADS=%s', (threads) => {
  it('answers 503 with Retry-After rather than a false ack when the file stays locked, and /readyz says why', async () => {
    svc = await startTestService({ env: { WRITE_RETRY_MS: '600', SQLITE_WRITE_THREADS: threads } });
    other = new Database(join(svc.dir, 'usage.db'));
    other.exec('BEGIN IMMEDIATE');
    const res = await svc.ingest('/v1/usage', batch('locked', 3));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await res.json()).error).toMatchObject({ code: 'storage_unavailable', message: expect.stringMatching(/database is locked/) });
    expect(await readyz(svc)).toEqual({ status: 503, body: expect.objectContaining({ status: 'not_ready', reason: expect.stringMatching(/SQLITE_BUSY/) }) });

    other.exec('ROLLBACK');
    expect((await stored(svc)).events).toBe(0);
    const retried = await svc.ingest('/v1/usage', batch('locked', 3));
    expect(await retried.json()).toMatchObject({ accepted: 3, duplicates: 0 });
    expect((await readyz(svc)).status).toBe(200);
  });

  it('keeps the events queued and retries with backoff while writes fail, then acks once they are committed', async () => {
    svc = await startTestService({ env: { WRITE_RETRY_MS: '20000', SQLITE_WRITE_THREADS: threads } });
    // A real failure inside the database: every insert aborts until the trigger is dropped.
    other = new Database(join(svc.dir, 'usage.db'));
    other.exec(`CREATE TRIGGER fail_writes BEFORE INSERT ON usage_events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    const pending = svc.ingest('/v1/usage', batch('fault', 5));
    await until(async () => (await readyz(svc!)).status === 503, '/readyz to report the failing writes');
    expect(await readyz(svc)).toEqual({ status: 503, body: expect.objectContaining({ reason: expect.stringMatching(/disk I\/O error/) }) });
    const metrics = await (await fetch(`${svc.collectorUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tokentally_storage_errors_total [1-9]/m);
    expect(metrics).toMatch(/^tokentally_queue_events 5$/m);

    other.exec('DROP TRIGGER fail_writes');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: 5 });
    expect(await stored(svc)).toMatchObject({ events: 5, input_tokens: 50 });
    expect((await readyz(svc)).status).toBe(200);
  });

  it('keeps the order of the batches it retries: of two events sharing an id, the one sent first is stored', async () => {
    svc = await startTestService({ env: { WRITE_RETRY_MS: '20000', SQLITE_WRITE_THREADS: threads } });
    other = new Database(join(svc.dir, 'usage.db'));
    other.exec('BEGIN IMMEDIATE');
    const event = (input_tokens: number) => ({ events: [{ id: 'same', agent_id: 'a', model: 'm', input_tokens }] });
    const first = svc.ingest('/v1/usage', event(1));
    const queued = (n: number) => until(async () => (await metricValue(svc!.collectorUrl, 'tokentally_queue_events')) === n, `${n} queued events`);
    await queued(1);
    const failures = (await metricValue(svc.collectorUrl, 'tokentally_storage_errors_total')) ?? 0;
    const second = svc.ingest('/v1/usage', event(2));
    await queued(2);
    // The first batch fails twice more while the lock is held, so the second waits behind a retried one.
    await until(async () => ((await metricValue(svc!.collectorUrl, 'tokentally_storage_errors_total')) ?? 0) >= failures + 2, 'two more failed attempts');
    other.exec('ROLLBACK');
    expect(await (await first).json()).toMatchObject({ accepted: 1 });
    expect(await (await second).json()).toMatchObject({ duplicates: 1 });
    expect(await stored(svc)).toMatchObject({ events: 1, input_tokens: 1 });
  });
});
