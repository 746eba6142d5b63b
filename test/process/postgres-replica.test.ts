import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startStandby, type Cluster } from '../../bench/pg-cluster.js';
import { runCli, waitForListening, type Running } from '../../bench/server.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { POSTGRES_OPTED_OUT, sqlPool } from '../support/postgres.js';
import { usageRecord } from '../support/records.js';
import { until } from '../support/wait.js';

/**
 * DATABASE_READ_URL against a real streaming replica: a primary and a hot standby of their own
 * (the shared test cluster cannot be copied while other tests use it). The standby is made by
 * startStandby with PostgreSQL's low-level backup API and a file copy, because the server binaries
 * from npm have no pg_basebackup and Debian's client (15) refuses to copy a newer server.
 * Pausing the standby's replay makes a lag that the test controls exactly.
 */
let primary: Cluster;
let standby: Cluster;
let writer: PostgresStore;
let onPrimary: pg.Pool;
let onStandby: pg.Pool;
const running: Running[] = [];

const database = (cluster: Cluster) => cluster.url.replace(/\/postgres$/, '/tokentally');

beforeAll(async () => {
  if (POSTGRES_OPTED_OUT) return;
  primary = await startCluster({ durable: false });
  onPrimary = sqlPool(primary.url, 2);
  await onPrimary.query('CREATE DATABASE tokentally');
  writer = new PostgresStore(database(primary), { poolMax: 2 });
  await writer.migrate();
  standby = await startStandby(primary);
  // Its idle connections end when the last test stops the standby (sqlPool listens for that).
  onStandby = sqlPool(database(standby), 2);
  await until(async () => (await onStandby.query('SELECT pg_is_in_recovery() AS r').catch(() => ({ rows: [{ r: false }] }))).rows[0].r, 'the standby to accept connections');
}, 120_000);
afterAll(async () => {
  for (const r of running) r.child.kill('SIGKILL');
  await onStandby?.end();
  await onPrimary?.end();
  await writer?.close();
  await standby?.stop();
  await primary?.stop();
});

async function reporting(maxLagMs: number): Promise<string> {
  const run = runCli(['reporting'], {
    DATABASE_URL: database(primary), DATABASE_READ_URL: database(standby), MAX_REPLICA_LAG_MS: String(maxLagMs), REPORTING_PORT: '0',
  });
  running.push(run);
  return (await waitForListening(run, ['reporting'])).reporting;
}

const events = async (base: string): Promise<number> =>
  (await (await fetch(`${base}/v1/reports/usage?from=2026-11-01&to=2026-12-01`)).json()).totals.events;
const onStandbyCount = async () => (await onStandby.query('SELECT COUNT(*)::int AS n FROM usage_events')).rows[0].n;

/** tokentally_replica_reads_total by `server/reason`, from the process's /metrics. */
async function reads(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^tokentally_replica_reads_total\{server="(\w+)",reason="(\w+)"\} (\d+)/gm)].map((m) => [`${m[1]}/${m[2]}`, Number(m[3])]));
}

const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => usageRecord(`${prefix}-${i}`, { ts: Date.UTC(2026, 10, 1 + (i % 28)) }));

describe.skipIf(POSTGRES_OPTED_OUT)('reports from a read replica (DATABASE_READ_URL)', () => {
  let patient: string;
  let strict: string;

  it('reads a replica that keeps up, and writes projects on the primary', async () => {
    [patient, strict] = await Promise.all([reporting(3_600_000), reporting(500)]);
    await writer.insertBatch(batch('first', 40));
    await until(async () => (await onStandbyCount()) === 40, 'the standby to replay the first events');
    expect(await events(patient)).toBe(40);
    expect(await reads(patient)).toMatchObject({ 'replica/fresh': expect.any(Number) });

    // A standby refuses writes: this one succeeds only because it went to the primary.
    const saved = await fetch(`${patient}/v1/projects/atlas`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Atlas' }) });
    expect(saved.status).toBeLessThan(300);
    const stored = new pg.Client({ connectionString: database(primary) });
    await stored.connect();
    expect((await stored.query(`SELECT name FROM projects WHERE id = 'atlas'`)).rows).toEqual([{ name: 'Atlas' }]);
    await stored.end();
  });

  it('falls back to the primary while the replica lags more than MAX_REPLICA_LAG_MS, and says so in metrics', async () => {
    await onStandby.query('SELECT pg_wal_replay_pause()');
    try {
      await writer.insertBatch(batch('second', 10));
      // The strict process answers with the new events once the lag passes 500 ms: from the primary.
      await until(async () => (await events(strict)) === 50, 'the strict reporting app to read the primary', 15_000);
      expect(await reads(strict)).toMatchObject({ 'primary/lagging': expect.any(Number) });
      // Meanwhile the replica still lacks them, and the patient process still reads it.
      expect(await onStandbyCount()).toBe(40);
      expect(await events(patient)).toBe(40);
    } finally {
      await onStandby.query('SELECT pg_wal_replay_resume()');
    }
    await until(async () => (await onStandbyCount()) === 50, 'the standby to catch up');
    const before = (await reads(strict))['replica/fresh'] ?? 0;
    await until(async () => (await events(strict)) === 50 && ((await reads(strict))['replica/fresh'] ?? 0) > before, 'the strict app back on the replica');
  });

  it('reads the primary while the replica is down', async () => {
    await standby.stop();
    expect(await events(patient).catch((error) => `${error}\n${running.map((r) => r.output()).join('\n')}`)).toBe(50);
    const seen = await reads(patient);
    expect((seen['primary/unreachable'] ?? 0) + (seen['primary/failed'] ?? 0)).toBeGreaterThan(0);
  });
});

describe('DATABASE_READ_URL settings', () => {
  it('refuses a replica beside SQLite, or one that is not a PostgreSQL URL, naming the variable', () => {
    expect(() => loadConfig({ DATABASE_READ_URL: 'postgres://replica/db' })).toThrow(/DATABASE_READ_URL=.*needs a PostgreSQL DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://primary/db', DATABASE_READ_URL: 'replica.db' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://primary/db', MAX_REPLICA_LAG_MS: '-1' })).toThrow(/MAX_REPLICA_LAG_MS/);
    expect(loadConfig({ DATABASE_URL: 'postgres://primary/db', DATABASE_READ_URL: 'postgresql://replica/db' })).toMatchObject({ MAX_REPLICA_LAG_MS: 5000 });
  });
});
