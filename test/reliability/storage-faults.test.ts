import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, startTestService, type TestService } from '../support/service.js';
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
    // Ready again at once, before any traffic: /readyz tried a write of its own.
    expect(await readyz(svc)).toEqual({ status: 200, body: expect.objectContaining({ status: 'ready' }) });
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

/**
 * A database that fails every write (a full disk, imitated by triggers that raise its error) and
 * then recovers: /readyz finds out by writing itself, with no client traffic in between.
 */
const FAULTS = {
  sqlite: {
    on: ['usage_events', 'write_probe'].map((t) => `CREATE TRIGGER full_${t} BEFORE INSERT ON ${t} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;`).join('\n'),
    off: 'DROP TRIGGER full_usage_events; DROP TRIGGER full_write_probe;',
  },
  postgres: {
    on: `CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$;
         CREATE TRIGGER disk_full BEFORE INSERT ON usage_events FOR EACH STATEMENT EXECUTE FUNCTION disk_full();
         CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON write_probe FOR EACH STATEMENT EXECUTE FUNCTION disk_full();`,
    off: 'DROP FUNCTION disk_full CASCADE',
  },
};

describe.each(BACKENDS)('on %s, after a failed write', (backend) => {
  it('/readyz probes the database itself: not ready while writes fail, ready as soon as they work again', async () => {
    svc = await startTestService({ backend, env: { WRITE_RETRY_MS: '300' } });
    const admin = backend === 'sqlite' ? null : new pg.Client({ connectionString: svc.databaseUrl });
    const exec = async (sql: string) => (admin ? void (await admin.query(sql)) : void (other ??= new Database(join(svc!.dir, 'usage.db'))).exec(sql));
    await admin?.connect();
    try {
      await exec(FAULTS[backend].on);
      const res = await svc.ingest('/v1/usage', batch('full', 3));
      expect(res.status).toBe(503);
      // Nothing waits to be retried, so each check writes: the fault is still there, and says so.
      for (let i = 0; i < 2; i++) {
        expect(await readyz(svc)).toEqual({ status: 503, body: expect.objectContaining({ reason: expect.stringMatching(/full|No space left/) }) });
      }

      await exec(FAULTS[backend].off);
      expect(await readyz(svc)).toEqual({ status: 200, body: expect.objectContaining({ status: 'ready' }) });
      expect((await stored(svc)).events).toBe(0);
      expect(await (await svc.ingest('/v1/usage', batch('full', 3))).json()).toMatchObject({ accepted: 3 });
    } finally {
      await admin?.end();
    }
  });
});
