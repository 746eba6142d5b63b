/**
 * `npm run bench -- --postgres`: the PostgreSQL backend on a throwaway local cluster with default
 * durability (fsync on, synchronous commit). Prints the in-process ceiling with 1 and 4 clients,
 * end-to-end durable-ack ingest through 1, 2 and 4 collector processes, and report latency over a
 * large table, from the rollup and from raw events.
 */
import pg from 'pg';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { PostgresStore } from '../src/store/postgres.js';
import { makeRecords } from './events.js';
import { runLoad, type LoadResult } from './load.js';
import { startCluster, type Cluster } from './pg-cluster.js';
import { measureReport } from './reports.js';
import { runCli, waitForListening, type Running } from './server.js';

const BATCH = 1000;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function freshDatabase(cluster: Cluster, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(cluster.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** `clients` concurrent loops, each committing 1,000-row batches taken from `next` until it runs dry. */
async function insertAll(store: PostgresStore, clients: number, next: () => UsageRecord[] | null): Promise<number> {
  let count = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let batch = next(); batch; batch = next()) {
        await store.insertBatch(batch);
        count += batch.length;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function ceiling(cluster: Cluster, clients: number, events: number): Promise<number> {
  const store = new PostgresStore(await freshDatabase(cluster, `ceiling_${clients}`), { poolMax: clients });
  await store.migrate();
  const records = makeRecords(0, events, createPricer(loadPriceTable({})));
  let offset = 0;
  const rate = await insertAll(store, clients, () => (offset < records.length ? records.slice(offset, (offset += BATCH)) : null));
  await store.close();
  return rate;
}

async function collectors(cluster: Cluster, count: number, clients: number, seconds: number): Promise<LoadResult> {
  const url = await freshDatabase(cluster, `e2e_${count}`);
  const runs: Running[] = Array.from({ length: count }, () =>
    runCli(['collector'], { DATABASE_URL: url, COLLECTOR_PORT: '0', GRPC_PORT: '0', DATABASE_POOL_MAX: '4' }),
  );
  try {
    const urls = await Promise.all(runs.map(async (r) => (await waitForListening(r, ['collector'])).collector));
    // The same number of connections in total, spread over the collectors.
    const results = await Promise.all(urls.map((u, i) =>
      runLoad({ url: `${u}/v1/usage`, batch: BATCH, connections: Math.ceil((clients - i) / count), seconds }),
    ));
    return results.reduce((a, b) => ({
      requests: a.requests + b.requests, eventsPerSecond: a.eventsPerSecond + b.eventsPerSecond,
      p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99), failures: a.failures + b.failures,
    }));
  } finally {
    for (const r of runs) r.child.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.exited));
  }
}

async function reportLatency(cluster: Cluster, events: number): Promise<void> {
  const url = await freshDatabase(cluster, 'reports');
  const store = new PostgresStore(url, { poolMax: 4 });
  await store.migrate();
  // Priced as the collector would, so reports see costs and no unpriced models.
  const pricer = createPricer(loadPriceTable({}));
  let made = 0;
  const rate = await insertAll(store, 4, () => {
    if (made >= events) return null;
    const n = Math.min(BATCH, events - made);
    made += n;
    return makeRecords(made - n, n, pricer);
  });
  await store.close();
  console.log(`(c) report latency over ${fmt(events)} events (loaded in-process at ${fmt(rate)} events/s incl. generation), p50 / p99 of 5 requests each:`);
  const run = runCli(['reporting'], { DATABASE_URL: url, REPORTING_PORT: '0' });
  try {
    const { reporting: base } = await waitForListening(run, ['reporting']);
    const day = new Date(Date.now() - 20 * 86_400_000).toISOString().slice(0, 10);
    const month = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const queries: [string, string][] = [
      ['rollup: 30 days by model', `/v1/reports/usage?from=${month}&to=${tomorrow}&group_by=model`],
      ['rollup: 30 days by agent × day', `/v1/reports/usage?from=${month}&to=${tomorrow}&group_by=agent,day`],
      ['raw: 30 days by run (top 20)', `/v1/reports/usage?from=${month}&to=${tomorrow}&group_by=run&limit=20&order=cost_usd`],
      ['raw: one day by hour, Europe/Paris', `/v1/reports/timeseries?interval=hour&from=${day}&to=${day}T23:59:59Z&tz=Europe/Paris`],
      ['raw: 30 days by day, America/New_York', `/v1/reports/timeseries?interval=day&from=${month}&to=${tomorrow}&tz=America/New_York`],
    ];
    for (const [label, path] of queries) {
      const r = await measureReport(base, path, { minSamples: 5, maxSamples: 5, budgetSeconds: 0 });
      console.log(`  ${label.padEnd(40)} ${r.p50.toFixed(0).padStart(6)} / ${r.p99.toFixed(0)} ms   (source: ${r.source})`);
    }
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
  }
}

export async function runPostgresBench(quick: boolean): Promise<void> {
  const size = quick
    ? { ceilingEvents: 20_000, seconds: 2, clients: 8, reportEvents: 200_000 }
    : { ceilingEvents: 300_000, seconds: 10, clients: 8, reportEvents: 5_000_000 };
  console.log(`tokentally PostgreSQL benchmark (${quick ? 'quick' : 'default'} sizes) on Node ${process.version}\n`);
  const cluster = await startCluster({ durable: true });
  console.log(`server: ${cluster.server}\n`);
  try {
    const one = await ceiling(cluster, 1, size.ceilingEvents);
    const four = await ceiling(cluster, 4, size.ceilingEvents);
    console.log('(a) in-process ceiling, project schema and statement-level trigger, 1,000-row transactions:');
    console.log(`  1 client  ${fmt(one).padStart(9)} events/s`);
    console.log(`  4 clients ${fmt(four).padStart(9)} events/s   (${(four / one).toFixed(2)}× one client)`);
    console.log(`(b) end-to-end durable-ack ingest, 1,000-event batches, ${size.clients} HTTP clients in total:`);
    let first = 0;
    for (const count of [1, 2, 4]) {
      const r = await collectors(cluster, count, size.clients, size.seconds);
      first ||= r.eventsPerSecond;
      console.log(`  ${count} collector${count > 1 ? 's' : ' '} ${fmt(r.eventsPerSecond).padStart(9)} events/s   ` +
        `${(r.eventsPerSecond / first).toFixed(2)}× one collector   ${(r.eventsPerSecond / four * 100).toFixed(0)} % of the 4-client ceiling   ` +
        `p50 ${r.p50.toFixed(0)} ms   p99 ${r.p99.toFixed(0)} ms   failed ${r.failures}`);
    }
    await reportLatency(cluster, size.reportEvents);
  } finally {
    await cluster.stop();
  }
}
