/**
 * `node dist/bench/pg-batch-cost.js [batches per round]`: where a 1,000-event batch's time goes on
 * PostgreSQL, this build's partitioned schema against the unpartitioned baseline (pg-baseline.ts),
 * on one durable cluster. Both databases get the same batches in alternating rounds from one client,
 * so the machine's drift falls on both; each round prints wall time and the server processes' CPU
 * per batch, and the run the WAL each build wrote per batch (pg_stat_wal: bytes, records, full-page
 * images), which a loaded machine does not blur. Then three more batches of this build run under
 * auto_explain with nested statements: the time of each trigger statement and of the whole insert
 * (SHOW_PLANS=1 prints the plans too, NO_EXPLAIN=1 skips it). VARIANT_SQL runs on this build's
 * database after its migrations, to measure a schema change before writing it as a migration.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { PostgresStore } from '../src/store/postgres.js';
import { INSERT_BATCH_SQL, insertBatchParams } from '../src/store/postgres-queries.js';
import { makeRecords } from './events.js';
import { baselineCli } from './pg-baseline.js';
import { freshDatabase, startCluster, type Cluster } from './pg-cluster.js';

const BATCH = 1000;
const ROUNDS = 6;
const DAY_MS = 86_400_000;

interface BatchStore {
  migrate(): Promise<unknown>;
  insertBatch(records: readonly UsageRecord[]): Promise<unknown>;
  close(): Promise<void>;
}

/** CPU seconds so far of the server processes serving database `name` (Linux /proc; 100 ticks a second). */
function serverCpu(name: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(`postgres: postgres ${name} `)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks / 100;
}

/** The cluster's WAL written so far (pg_stat_wal). */
async function wal(admin: pg.Client): Promise<{ bytes: number; fpi: number; records: number }> {
  const { rows } = await admin.query<{ bytes: string; fpi: string; records: string }>('SELECT wal_bytes::text AS bytes, wal_fpi::text AS fpi, wal_records::text AS records FROM pg_stat_wal');
  return { bytes: Number(rows[0]!.bytes), fpi: Number(rows[0]!.fpi), records: Number(rows[0]!.records) };
}

/** Seconds for `batches` in turn, from `first` on. */
async function timeBatches(store: BatchStore, records: UsageRecord[], first: number, batches: number): Promise<number> {
  const started = performance.now();
  for (let b = 0; b < batches; b++) await store.insertBatch(records.slice((first + b) * BATCH, (first + b + 1) * BATCH));
  return (performance.now() - started) / 1000;
}

/** Three batches under auto_explain: the nested statements' times land in the server log, read back from it. */
async function explainBatches(cluster: Cluster, url: string, records: UsageRecord[]): Promise<void> {
  const log = join(cluster.home.dir, 'server.log');
  const before = readFileSync(log, 'utf8').length;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`LOAD 'auto_explain'`);
  await client.query(`SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_nested_statements = on; SET auto_explain.log_timing = on; SET auto_explain.log_buffers = on`);
  for (let b = 0; b < 3; b++) {
    await client.query('BEGIN');
    await client.query(INSERT_BATCH_SQL, insertBatchParams(records.slice(b * BATCH, (b + 1) * BATCH)));
    await client.query('COMMIT');
  }
  await client.end();
  const text = readFileSync(log, 'utf8').slice(before);
  for (const m of text.matchAll(/duration: ([\d.]+) ms\s+plan:\s+Query Text: ([^\n]{0,160})/g)) console.log(`${m[1]!.padStart(9)} ms  ${m[2]!.replace(/\s+/g, ' ')}`);
  if (process.env.SHOW_PLANS) console.log(text);
}

async function main(): Promise<void> {
  const perRound = Number(process.argv[2] ?? 40);
  const warm = 100;
  const cluster = await startCluster({ durable: true });
  try {
    const { cli } = baselineCli((line) => console.log(line));
    const baselineModule = join(cli, '..', '..', 'src', 'store', 'postgres.js');
    const { PostgresStore: BaselineStore } = (await import(baselineModule)) as { PostgresStore: new (url: string, o: { poolMax: number }) => BatchStore };
    const oursUrl = await freshDatabase(cluster, 'ours');
    const ours = new PostgresStore(oursUrl, { poolMax: 1 });
    await ours.migrate();
    await ours.addPartitions(Date.now() - 31 * DAY_MS);
    if (process.env.VARIANT_SQL) {
      const c = new pg.Client({ connectionString: oursUrl });
      await c.connect();
      await c.query(process.env.VARIANT_SQL);
      await c.end();
    }
    const base = new BaselineStore(await freshDatabase(cluster, 'base'), { poolMax: 1 });
    await base.migrate();
    const records = makeRecords(0, (warm + ROUNDS * perRound * 2 + 1) * BATCH, createPricer(loadPriceTable({})));
    await timeBatches(ours, records, 0, warm);
    await timeBatches(base, records, 0, warm);
    let next = warm;
    const totals = { ours: 0, base: 0 };
    const cpuTotals = { ours: 0, base: 0 };
    const walTotals = { ours: { bytes: 0, fpi: 0, records: 0 }, base: { bytes: 0, fpi: 0, records: 0 } };
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['base', 'ours'] as const) : (['ours', 'base'] as const);
      const ms: Record<string, number> = {};
      const cpuMs: Record<string, number> = {};
      for (const which of order) {
        const walBefore = await wal(admin);
        const cpuBefore = serverCpu(which);
        const seconds = await timeBatches(which === 'ours' ? ours : base, records, next, perRound);
        const cpu = serverCpu(which) - cpuBefore;
        const walAfter = await wal(admin);
        walTotals[which].bytes += walAfter.bytes - walBefore.bytes;
        walTotals[which].fpi += walAfter.fpi - walBefore.fpi;
        walTotals[which].records += walAfter.records - walBefore.records;
        ms[which] = (seconds * 1000) / perRound;
        cpuMs[which] = (cpu * 1000) / perRound;
        totals[which] += seconds;
        cpuTotals[which] += cpu;
      }
      next += perRound;
      console.log(`round ${round + 1}: baseline ${ms.base!.toFixed(1)} ms/batch (server CPU ${cpuMs.base!.toFixed(1)} ms), ` +
        `this build ${ms.ours!.toFixed(1)} ms/batch (server CPU ${cpuMs.ours!.toFixed(1)} ms), baseline/this ${(ms.base! / ms.ours!).toFixed(2)}`);
    }
    await admin.end();
    // Updates of the rollups that stayed on their page (HOT: no index entry), this build's database.
    const stats = new pg.Client({ connectionString: oursUrl });
    await stats.connect();
    const { rows: hot } = await stats.query<{ relname: string; upd: string; hot: string }>(
      `SELECT relname, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables WHERE relname IN ('usage_daily', 'usage_daily_notask', 'usage_slots', 'usage_runs') ORDER BY relname`);
    await stats.end();
    console.log(`this build's rollup updates, HOT of all: ${hot.map((r) => `${r.relname} ${r.hot}/${r.upd}`).join(', ')}`);
    const batches = ROUNDS * perRound;
    for (const which of ['base', 'ours'] as const) {
      const w = walTotals[which];
      console.log(`${which === 'base' ? 'baseline  ' : 'this build'} WAL per batch: ${Math.round(w.bytes / batches / 1024)} kB, ${Math.round(w.records / batches)} records, ${(w.fpi / batches).toFixed(1)} full-page images`);
    }
    console.log(`over the rounds: baseline/this ${(totals.base / totals.ours).toFixed(2)} in time, ${(cpuTotals.base / cpuTotals.ours).toFixed(2)} in server CPU`);

    if (!process.env.NO_EXPLAIN) await explainBatches(cluster, oursUrl, records.slice(next * BATCH, (next + 3) * BATCH));
    await ours.close();
    await base.close();
  } finally {
    await cluster.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
