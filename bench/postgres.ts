/**
 * `npm run bench -- --postgres`: the PostgreSQL backend on a throwaway local cluster with default
 * durability (fsync on, synchronous commit). Prints the in-process ceiling with 1 and 4 clients,
 * end-to-end durable-ack ingest through 1, 2 and 4 collector processes, and report latency over a
 * large table (10 M events over 60 days, monthly partitions), from the rollup and from raw events.
 *
 * BENCH_PG_EVENTS sets the size of that table. Outside --quick, 2-collector ingest is also measured
 * against the unpartitioned schema in the same run, alternating (pg-baseline.ts builds it;
 * TOKENTALLY_BASELINE_CLI names another build's CLI instead). Each figure issue 24 names is printed
 * with its target. BENCH_PG_ONLY=baseline runs only that comparison (BENCH_PG_ROUNDS rounds, default 3),
 * BENCH_PG_ONLY=reports only the report latency.
 */
import pg from 'pg';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { PostgresStore } from '../src/store/postgres.js';
import { makeRecords } from './events.js';
import { fmt } from './format.js';
import { checkDataset, loadDataset, RARE_AGENT } from './pg-dataset.js';
import { CLI, runScript } from './server.js';
import { inFreshClients, type ClientResult } from './client.js';
import { freshDatabase, startCluster, type Cluster } from './pg-cluster.js';
import { measureReport } from './reports.js';
import { baselineCli } from './pg-baseline.js';
import { runCli, waitForListening, type Running } from './server.js';

const DAY_MS = 86_400_000;
/** The size issue 24's report targets are set for. */
const ISSUE_EVENTS = 10_000_000;

const BATCH = 1000;
/** How long each report with a target under a second is asked in turn. */
const FAST_REPORT_SECONDS = 5;

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

/** A store on a fresh database with the partitions of the last `days` days, as a database in service has. */
async function partitionedStore(url: string, days: number, poolMax: number): Promise<PostgresStore> {
  const store = new PostgresStore(url, { poolMax });
  await store.migrate();
  await store.addPartitions(Date.now() - days * DAY_MS);
  return store;
}

let databases = 0;

/**
 * Another build's schema on a fresh database, by its own `migrate`, with the partitions of the last
 * `days` days when that build partitions (an earlier partitioned build measured against this one).
 */
async function migrateOther(cli: string, url: string, days: number): Promise<void> {
  const run = runScript(cli, ['migrate'], { DATABASE_URL: url });
  if ((await run.exited) !== 0) throw new Error(`${cli} migrate failed: ${run.output()}`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ partitioned: boolean }>(`SELECT to_regproc('usage_events_add_partitions') IS NOT NULL AS partitioned`);
    if (rows[0]!.partitioned) await client.query('SELECT usage_events_add_partitions($1, 2)', [Date.now() - days * DAY_MS]);
  } finally {
    await client.end();
  }
}

/** `cli`: this build's, or another build's (a baseline), whose own `migrate` makes its schema. */
async function collectors(cluster: Cluster, count: number, clients: number, seconds: number, cli = CLI): Promise<ClientResult> {
  const url = await freshDatabase(cluster, `e2e_${++databases}`);
  // The load's events span the last 30 days: a partitioned build gets their months' partitions first.
  if (cli === CLI) await (await partitionedStore(url, 31, 1)).close();
  else await migrateOther(cli, url, 31);
  const runs: Running[] = Array.from({ length: count }, () =>
    runScript(cli, ['collector'], { DATABASE_URL: url, COLLECTOR_PORT: '0', GRPC_PORT: '0', DATABASE_POOL_MAX: '4' }),
  );
  try {
    const urls = await Promise.all(runs.map(async (r) => (await waitForListening(r, ['collector'])).collector));
    // The same number of connections in total, spread over the collectors, from one client process
    // each, all of which start once every one has built its bodies.
    const results = await inFreshClients(urls.map((u, i) => ({
      kind: 'usage', options: { url: `${u}/v1/usage`, batch: BATCH, connections: Math.ceil((clients - i) / count), seconds },
    })));
    return results.reduce((a, b) => ({
      requests: a.requests + b.requests, eventsPerSecond: a.eventsPerSecond + b.eventsPerSecond,
      p50: Math.max(a.p50, b.p50), p99: Math.max(a.p99, b.p99), failures: a.failures + b.failures,
      client: {
        buildSeconds: a.client.buildSeconds + b.client.buildSeconds, cpuSeconds: a.client.cpuSeconds + b.client.cpuSeconds,
        seconds: Math.max(a.client.seconds, b.client.seconds), loopBusy: Math.max(a.client.loopBusy, b.client.loopBusy),
        majorGcs: a.client.majorGcs + b.client.majorGcs, gcSeconds: a.client.gcSeconds + b.client.gcSeconds,
      },
    }));
  } finally {
    for (const r of runs) r.child.kill('SIGTERM');
    await Promise.all(runs.map((r) => r.exited));
  }
}

async function reportLatency(cluster: Cluster, events: number): Promise<void> {
  const url = await freshDatabase(cluster, 'reports');
  const now = Date.now();
  const store = await partitionedStore(url, 61, 1);
  const dataset = { total: events, now, pricer: createPricer(loadPriceTable({})) };
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const rate = await loadDataset(admin, url, dataset);
  // What autovacuum does in service, done now so the first reports do not race it.
  const vacuumStarted = performance.now();
  await admin.query('VACUUM (ANALYZE) usage_events, usage_daily, usage_event_ids, usage_daily_notask, usage_slots, usage_runs');
  const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;
  const checkStarted = performance.now();
  await checkDataset(admin, store, dataset);
  const checkSeconds = (performance.now() - checkStarted) / 1000;
  await store.close();
  const { rows: sizes } = await admin.query<{ name: string; rows: string }>(
    `SELECT name, (SELECT COUNT(*) FROM usage_events e WHERE e.tableoid = to_regclass(name))::text AS rows FROM usage_events_partitions() ORDER BY lower_ms`);
  await admin.end();
  console.log(`(c) report latency over ${fmt(events)} events over 60 days (made by the server at ${fmt(rate)} events/s through the trigger, ` +
    `VACUUM ANALYZE in ${vacuumSeconds.toFixed(0)} s, sample and rollup checked in ${checkSeconds.toFixed(0)} s), p50 / p99 of each report asked in turn ` +
    `for ${FAST_REPORT_SECONDS} s when its target is under a second (as npm run bench asks the SQLite ones), else 5 times:`);
  console.log(`  partitions: ${sizes.map((p) => `${p.name} ${fmt(Number(p.rows))}`).join(', ')}`);
  if (events < ISSUE_EVENTS) console.log(`  (issue 24's targets below are for ${fmt(ISSUE_EVENTS)} events: at this size they are indicative only)`);
  const run = runCli(['reporting'], { DATABASE_URL: url, REPORTING_PORT: '0' });
  try {
    const { reporting: base } = await waitForListening(run, ['reporting']);
    const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const day = date(now - 20 * DAY_MS);
    const days30 = date(now - 30 * DAY_MS);
    const tomorrow = date(now + DAY_MS);
    // The last whole calendar month: one partition, about half the events.
    const today = new Date(now);
    const monthFrom = date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1));
    const monthTo = date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1));
    // Issue 24's targets, on the p50 (null: no target).
    const ROLLUP_MS = 50;
    const RAW_MONTH_MS = 2000;
    const EVENTS_MS = 100;
    const queries: [string, string, number | null][] = [
      ['rollup: 30 days by model', `/v1/reports/usage?from=${days30}&to=${tomorrow}&group_by=model`, ROLLUP_MS],
      ['rollup: 30 days by agent × day', `/v1/reports/usage?from=${days30}&to=${tomorrow}&group_by=agent,day`, ROLLUP_MS],
      ['rollup: 60 days by project × week', `/v1/reports/usage?from=${date(now - 60 * DAY_MS)}&to=${tomorrow}&group_by=project,week`, ROLLUP_MS],
      [`raw: month ${monthFrom.slice(0, 7)} by run (top 20)`, `/v1/reports/usage?from=${monthFrom}&to=${monthTo}&group_by=run&limit=20&order=cost_usd`, RAW_MONTH_MS],
      [`raw: month ${monthFrom.slice(0, 7)} by hour, Europe/Paris`, `/v1/reports/timeseries?interval=hour&from=${monthFrom}&to=${monthTo}&tz=Europe/Paris`, RAW_MONTH_MS],
      ['raw: one day by hour, Europe/Paris', `/v1/reports/timeseries?interval=hour&from=${day}&to=${day}T23:59:59Z&tz=Europe/Paris`, null],
      ['raw: 30 days by day, America/New_York', `/v1/reports/timeseries?interval=day&from=${days30}&to=${tomorrow}&tz=America/New_York`, null],
      [`/v1/events agent=${RARE_AGENT}, first page`, `/v1/events?agent=${RARE_AGENT}&limit=50`, EVENTS_MS],
    ];
    for (const [label, path, target] of queries) {
      // A fast report's p50 is that of a server past its first requests (compiled code, warm caches), as users meet it.
      const fast = target !== null && target < 1000;
      const r = await measureReport(base, path, fast ? { minSamples: 5, maxSamples: 1000, budgetSeconds: FAST_REPORT_SECONDS } : { minSamples: 5, maxSamples: 5, budgetSeconds: 0 });
      const verdict = target === null ? '' : `   target p50 ≤ ${fmt(target)} ms: ${r.p50 <= target ? 'met' : 'not met'}`;
      console.log(`  ${label.padEnd(44)} ${r.p50.toFixed(0).padStart(6)} / ${r.p99.toFixed(0)} ms   (${r.samples} requests, source: ${r.source})${verdict}`);
    }
  } finally {
    run.child.kill('SIGTERM');
    await run.exited;
  }
}

/** Rounds of 2-collector ingest per build, the builds' order alternating (ABBA…) so that drift in the machine's load falls on both. */
const BASELINE_ROUNDS = Number(process.env.BENCH_PG_ROUNDS ?? 3);

/**
 * Issue 24's ingest target: 2 collectors of this build against 2 of the unpartitioned schema's
 * (pg-baseline.ts), in the same run, on the same cluster, alternating.
 */
async function againstBaseline(cluster: Cluster, size: { clients: number; seconds: number }): Promise<void> {
  const { cli, commit } = baselineCli((line) => console.log(line));
  console.log(`    2 collectors, this build against the unpartitioned baseline (${commit ? `commit ${commit.slice(0, 12)}` : cli}), ${BASELINE_ROUNDS} rounds alternating:`);
  const totals = { baseline: 0, build: 0 };
  const ratios: number[] = [];
  for (let round = 1; round <= BASELINE_ROUNDS; round++) {
    const order = round % 2 === 1 ? (['baseline', 'build'] as const) : (['build', 'baseline'] as const);
    const rates = { baseline: 0, build: 0 };
    for (const which of order) {
      const r = await collectors(cluster, 2, size.clients, size.seconds, which === 'build' ? CLI : cli);
      rates[which] = r.eventsPerSecond;
      totals[which] += r.eventsPerSecond;
      console.log(`    round ${round} ${which === 'build' ? 'this build' : 'baseline  '} ${fmt(r.eventsPerSecond).padStart(9)} events/s   p50 ${r.p50.toFixed(0)} ms   failed ${r.failures}`);
    }
    ratios.push(rates.build / rates.baseline);
  }
  const ratio = totals.build / totals.baseline;
  // A round's two builds run next to each other: their ratio is spared the drift between rounds, and the median one outlier round.
  const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
  console.log(`    this build / baseline over the rounds: ${ratio.toFixed(2)}; per round ${ratios.map((r) => r.toFixed(2)).join(' / ')}, median ${median.toFixed(2)}   ` +
    `(target ≥ 1.00: ${ratio >= 1 ? 'met' : 'not met'} over the rounds, ${median >= 1 ? 'met' : 'not met'} by the median)`);
}

export async function runPostgresBench(quick: boolean): Promise<void> {
  const size = quick
    ? { ceilingEvents: 20_000, seconds: 2, clients: 8, reportEvents: 200_000 }
    : { ceilingEvents: 300_000, seconds: 10, clients: 8, reportEvents: Number(process.env.BENCH_PG_EVENTS ?? ISSUE_EVENTS) };
  console.log(`tokentally PostgreSQL benchmark (${quick ? 'quick' : 'default'} sizes) on Node ${process.version}\n`);
  const cluster = await startCluster({ durable: true });
  console.log(`server: ${cluster.server}\n`);
  try {
    if (process.env.BENCH_PG_ONLY === 'baseline') {
      await againstBaseline(cluster, size);
      return;
    }
    if (process.env.BENCH_PG_ONLY === 'reports') {
      await reportLatency(cluster, size.reportEvents);
      return;
    }
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
        `${first ? (r.eventsPerSecond / first).toFixed(2) : '–'}× one collector   ${(r.eventsPerSecond / four * 100).toFixed(0)} % of the 4-client ceiling   ` +
        `p50 ${r.p50.toFixed(0)} ms   p99 ${r.p99.toFixed(0)} ms   failed ${r.failures}   client CPU ${r.client.cpuSeconds.toFixed(1)} s`);
    }
    if (quick) console.log('    2 collectors against the unpartitioned baseline: skipped (--quick)');
    else await againstBaseline(cluster, size);
    await reportLatency(cluster, size.reportEvents);
  } finally {
    await cluster.stop();
  }
}
