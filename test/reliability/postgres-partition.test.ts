import { afterAll, describe, expect, it } from 'vitest';
import { runCli, waitForListening, type Running } from '../../bench/server.js';
import { createDatabase, POSTGRES_OPTED_OUT, sqlPool, type TestDatabase } from '../support/postgres.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

/**
 * A PostgreSQL server that stops answering without closing anything (a network partition, a host
 * gone): the service finds out only by waiting, so every wait is bounded. The collector reaches the
 * database through a relay that can go silent.
 */
const cleanUps: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const cleanUp of cleanUps.reverse()) await cleanUp();
});

/** A collector on a new database, reached through a relay that can go silent. */
async function startBehindProxy(env: Record<string, string>): Promise<{ url: string; db: TestDatabase; proxy: TcpProxy; run: Running }> {
  const db = await createDatabase();
  cleanUps.push(() => db.drop());
  const target = new URL(db.url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  cleanUps.push(() => proxy.close());
  const via = new URL(db.url);
  via.hostname = '127.0.0.1';
  via.port = String(proxy.port);
  const run = runCli(['collector'], { DATABASE_URL: via.toString(), COLLECTOR_PORT: '0', GRPC_PORT: '0', WRITE_RETRY_MS: '500', ...env });
  cleanUps.push(() => void run.child.kill('SIGKILL'));
  return { url: (await waitForListening(run, ['collector'])).collector, db, proxy, run };
}

const post = (url: string, id: string) =>
  fetch(`${url}/v1/usage`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: [{ id, agent_id: 'a', model: 'm', input_tokens: 1, output_tokens: 1 }] }),
  });

/** The time `work` took, in ms, with its result. */
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, performance.now() - start];
}

describe.skipIf(POSTGRES_OPTED_OUT)('a PostgreSQL server that stops answering', () => {
  it('ingest and /readyz answer 503 within the timeouts, nothing unstored is acknowledged, it recovers, and SIGTERM still ends the process', async () => {
    const { url, db, proxy, run } = await startBehindProxy({ DATABASE_QUERY_TIMEOUT_MS: '1500', DATABASE_CONNECT_TIMEOUT_MS: '1000' });
    expect((await post(url, 'before')).status).toBe(200);

    proxy.silence();
    const [during, ingestMs] = await timed(() => post(url, 'during'));
    expect(during.status).toBe(503);
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await during.json()) as { error: { message: string } }).error.message).toMatch(/DATABASE_(QUERY|CONNECT)_TIMEOUT_MS/);
    expect(ingestMs).toBeLessThan(10_000);
    const [ready, readyMs] = await timed(() => fetch(`${url}/readyz`));
    expect(ready.status).toBe(503);
    expect(readyMs).toBeLessThan(5_000);

    proxy.resume();
    await until(async () => (await post(url, 'after')).status === 200, 'ingest once the database answers again');
    await until(async () => (await fetch(`${url}/readyz`)).status === 200, '/readyz ready again');
    const sql = sqlPool(db.url, 1);
    try {
      const { rows } = await sql.query<{ id: string }>('SELECT id FROM usage_events ORDER BY id');
      expect(rows.map((r) => r.id)).toEqual(['after', 'before']);
    } finally {
      await sql.end();
    }

    // Stopping needs the database too (the last commits, closing its connections): bounded by the same timeouts.
    proxy.silence();
    const [code, stopMs] = await timed(async () => {
      run.child.kill('SIGTERM');
      return run.exited;
    });
    // Before the stop's own deadline (SHUTDOWN_TIMEOUT_MS + 10 s): each wait ended by its timeout.
    expect(code).toBe(0);
    expect(stopMs).toBeLessThan(11_000);
  }, 60_000);

  it('a statement that runs past DATABASE_QUERY_TIMEOUT_MS on a live server is ended by the server, and answered 503 naming the setting', async () => {
    const db = await createDatabase();
    cleanUps.push(() => db.drop());
    const run = runCli(['reporting'], { DATABASE_URL: db.url, REPORTING_PORT: '0', DATABASE_QUERY_TIMEOUT_MS: '1000' });
    cleanUps.push(() => void run.child.kill('SIGKILL'));
    const url = (await waitForListening(run, ['reporting'])).reporting;
    const report = `${url}/v1/reports/usage?from=2026-11-01&to=2026-12-01`;
    expect((await fetch(report)).status).toBe(200);
    // Locks held elsewhere keep the report's statement waiting, as a long one would run.
    const sql = sqlPool(db.url, 1);
    const holder = await sql.connect();
    try {
      await holder.query('BEGIN');
      const { rows } = await holder.query<{ tables: string }>(`SELECT string_agg(quote_ident(tablename), ', ') AS tables FROM pg_tables WHERE schemaname = 'public'`);
      await holder.query(`LOCK TABLE ${rows[0]!.tables} IN ACCESS EXCLUSIVE MODE`);
      const [res, ms] = await timed(() => fetch(report));
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/57014: canceling statement due to statement timeout \(DATABASE_QUERY_TIMEOUT_MS, unless it was cancelled on the server\)/);
      expect(ms).toBeLessThan(5_000);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
      await sql.end();
    }
    expect((await fetch(report)).status).toBe(200);
  }, 60_000);

  it('without a query timeout, a stop that waits on the silent database still ends SHUTDOWN_TIMEOUT_MS + 10 s after the signal', async () => {
    const { url, proxy, run } = await startBehindProxy({ DATABASE_QUERY_TIMEOUT_MS: '0', SHUTDOWN_TIMEOUT_MS: '1000' });
    expect((await post(url, 'before')).status).toBe(200);
    proxy.silence();
    const waiting = post(url, 'during').then((res) => res.status, () => 'no answer');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [code, stopMs] = await timed(async () => {
      run.child.kill('SIGTERM');
      return run.exited;
    });
    expect(code).toBe(1);
    expect(stopMs).toBeGreaterThan(10_000);
    expect(stopMs).toBeLessThan(14_000);
    expect(run.output()).toMatch(/SIGTERM: not stopped after 11000 ms \(SHUTDOWN_TIMEOUT_MS \+ 10000\); exiting now: every acknowledged event is committed/);
    expect(await waiting).not.toBe(200);
  }, 60_000);
});
