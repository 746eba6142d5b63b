import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitForListening, type Running } from '../../bench/server.js';
import { loadConfig } from '../../src/config.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { readMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open.js';
import { createDatabase, POSTGRES_OPTED_OUT, runAdmin, type TestDatabase, sqlPool } from '../support/postgres.js';
import { postUntilStopped, until } from '../support/wait.js';

/** Several tokentally processes on one PostgreSQL database, as in a scaled-out deployment. */
let db: TestDatabase;
let sql: pg.Pool;
const running: Running[] = [];

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  db = await createDatabase();
  sql = sqlPool(db.url, 2);
});
afterAll(async () => {
  for (const r of running) r.child.kill('SIGKILL');
  await sql?.end();
  await db?.drop();
});

async function start(role: 'collector' | 'reporting', env: Record<string, string> = {}): Promise<{ run: Running; url: string }> {
  const run = runCli([role], { DATABASE_URL: db.url, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', ...env });
  running.push(run);
  return { run, url: (await waitForListening(run, [role]))[role] };
}

const post = (url: string, events: unknown[]) =>
  fetch(`${url}/v1/usage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });

const event = (id: string, i: number) => ({
  id, timestamp: Date.UTC(2026, 10, 1 + (i % 28), i % 24), agent_id: `agent-${i % 3}`, model: `model-${i % 4}`,
  project: `p${i % 2}`, input_tokens: 100 + i, output_tokens: 10, cost_usd: 0.001,
});

describe.skipIf(POSTGRES_OPTED_OUT)('two collectors on one PostgreSQL database', () => {
  it('migrate runs safely from several processes at once', async () => {
    const runs = [1, 2, 3].map(() => runCli(['migrate'], { DATABASE_URL: db.url }));
    expect(await Promise.all(runs.map((r) => r.exited))).toEqual([0, 0, 0]);
    const { rows } = await sql.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(readMigrations(join(PACKAGE_ROOT, 'migrations', 'postgres')).map((m) => m.version));
  });

  it('stores the same events sent to both collectors once, and the rollup counts them once', async () => {
    const [a, b] = await Promise.all([start('collector'), start('collector')]);
    const events = Array.from({ length: 3000 }, (_, i) => event(`dup-${i}`, i));
    // Overlapping batches in different orders, concurrently, to both instances.
    const batches = Array.from({ length: 15 }, (_, k) => events.slice(k * 200, k * 200 + 600));
    const answers = await Promise.all(
      batches.flatMap((batch) => [post(a.url, batch), post(b.url, [...batch].reverse())]).map(async (p) => {
        const res = await p;
        expect(res.status).toBe(200);
        return (await res.json()) as { accepted: number; duplicates: number };
      }),
    );
    expect(answers.reduce((n, x) => n + x.accepted, 0)).toBe(events.length);
    const { rows } = await sql.query('SELECT COUNT(*)::int AS n, SUM(input_tokens)::int AS input FROM usage_events');
    expect(rows[0]).toEqual({ n: 3000, input: events.reduce((s, e) => s + e.input_tokens, 0) });
    const reporting = await start('reporting');
    const res = await fetch(`${reporting.url}/v1/reports/usage?from=2026-11-01&to=2026-12-01`);
    const body = await res.json();
    expect(body).toMatchObject({ source: 'rollup', totals: { events: 3000, input_tokens: rows[0].input } });
    const verify = runCli(['verify'], { DATABASE_URL: db.url });
    expect(await verify.exited).toBe(0);
    expect(verify.output()).toMatch(/differing from the raw sums \(either side\): 0/);
  });

  it('answers 503 with Retry-After while the database refuses connections, never a false ack, and recovers', async () => {
    const { url } = await start('collector', { WRITE_RETRY_MS: '300', DATABASE_POOL_MAX: '2' });
    expect((await post(url, [event('before', 1)])).status).toBe(200);
    await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    // Cut the collector's connections (the test's own stay), as a database restart would.
    await runAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tokentally'`, [db.name]);
    try {
      const res = await post(url, [event('during', 2)]);
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
    } finally {
      await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }
    expect((await sql.query(`SELECT COUNT(*)::int AS n FROM usage_events WHERE id = 'during'`)).rows[0].n).toBe(0);
    expect((await post(url, [event('after', 3)])).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('the reporting app answers 503 with Retry-After while the database refuses connections, never a 500, and recovers', async () => {
    const { run, url } = await start('reporting', { DATABASE_POOL_MAX: '2' });
    const paths = ['/v1/reports/usage?from=2000-01-01', '/v1/events?from=2000-01-01', '/v1/projects'];
    for (const path of paths) expect((await fetch(`${url}${path}`)).status).toBe(200);
    await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    await runAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tokentally'`, [db.name]);
    try {
      for (const path of paths) {
        const res = await fetch(`${url}${path}`);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(((await res.json()) as { error: unknown }).error).toMatchObject({ code: 'storage_unavailable', message: expect.stringMatching(/^not answered: the database is unavailable \(.+\); retry later$/) });
      }
      // What Grafana shows of a failed call is the top-level message.
      const grafana = await fetch(`${url}/grafana/tag-values`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: 'model' }) });
      expect(grafana.status).toBe(503);
      expect(((await grafana.json()) as { message: string }).message).toMatch(/the database is unavailable/);
    } finally {
      await runAdmin(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }
    for (const path of paths) expect((await fetch(`${url}${path}`)).status).toBe(200);
    expect(run.output()).not.toMatch(/unexpected error/);
  });

  it('a collector stopped with SIGTERM commits every request it acknowledged', async () => {
    const { run, url } = await start('collector', { SHUTDOWN_TIMEOUT_MS: '5000' });
    const acked: string[] = [];
    const stopped = { now: false };
    // Draining: a real client backs off for Retry-After instead of keeping the connection busy.
    const client = (c: number) => postUntilStopped(url, (i) => Array.from({ length: 200 }, (_, j) => event(`term-${c}-${i}-${j}`, j)), stopped, acked, () => false);
    const clients = Promise.all([1, 2, 3].map(client));
    await until(() => acked.length >= 600, 'a first 600 acknowledged events');
    stopped.now = true;
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await clients;
    expect(acked.length).toBeGreaterThan(0);
    const { rows } = await sql.query(`SELECT id FROM usage_events WHERE id LIKE 'term-%'`);
    const stored = new Set(rows.map((r) => r.id as string));
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  }, 60_000);

  it('rebuild-rollups works on PostgreSQL, and backup is refused with a pointer to pg_dump', async () => {
    await sql.query('UPDATE usage_daily SET events = events + 1');
    expect(await runCli(['verify'], { DATABASE_URL: db.url }).exited).toBe(1);
    expect(await runCli(['rebuild-rollups'], { DATABASE_URL: db.url }).exited).toBe(0);
    expect(await runCli(['verify'], { DATABASE_URL: db.url }).exited).toBe(0);
    const store = openStore(loadConfig({ DATABASE_URL: db.url }));
    await expect(store.backup('/tmp/never-written.db')).rejects.toThrow(/pg_dump/);
    await store.close();
  });

  it('stops with a message naming a database that does not exist on the server, and how to make it', async () => {
    const missing = new URL(db.url);
    missing.pathname = `/${db.name}_missing`;
    const run = runCli(['migrate'], { DATABASE_URL: missing.toString() });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(new RegExp(`cannot open the database postgres://\\S+/${db.name}_missing \\(DATABASE_URL\\): database "${db.name}_missing" does not exist \\(3D000\\); create the database first`));
  });
});
