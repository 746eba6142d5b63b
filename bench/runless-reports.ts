import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * Reports over events without a run, on two or more builds (docs/benchmarks.md, "Events without a
 * run, session 30"): `--events` of the benchmark's events over the 30 days before a fixed day, the
 * run of every `--runless-every`th cleared (so events without a run fall in every hour, as an agent's
 * log records do), written once by the first build, then each build's own copy of that file,
 * migrated by it (the time that takes printed), read through its SqliteStore (read threads on): a
 * report by run (by cost, top 20), the same filtered to run `''`, and one by model filtered to run
 * `''`, each `--times` times (the p50 printed, and the least). Each build is a package root with
 * its own `dist/` (see logs-ab.ts).
 *
 *   npm run build && node dist/bench/runless-reports.js [--events 2000000] [--runless-every 5] <root> <root> …
 */

const { values: args, positionals: roots } = parseArgs({
  allowPositionals: true,
  options: { events: { type: 'string', default: '2000000' }, 'runless-every': { type: 'string', default: '5' }, times: { type: 'string', default: '7' } },
});

const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);
const BATCH = 1000;

const load = (root: string, module: string) => import(join(resolve(root), 'dist', module));

async function fill(root: string, file: string): Promise<void> {
  const { SqliteStore } = await load(root, 'src/store/sqlite.js');
  const { openSqlite, batchInserter } = await load(root, 'src/store/sqlite-connection.js');
  const { makeRecords } = await load(root, 'bench/events.js');
  const { createPricer, loadPriceTable } = await load(root, 'src/pricing/index.js');
  const store = new SqliteStore(file, { writeThreads: false, readThreads: false });
  await store.migrate();
  await store.close();
  const db = openSqlite(file, { synchronous: 'OFF', busyTimeoutMs: 250 });
  const insert = batchInserter(db);
  const pricer = createPricer(loadPriceTable());
  const every = Number(args['runless-every']);
  for (let first = 0; first < Number(args.events); first += BATCH) {
    const records = makeRecords(first, BATCH, pricer, NOW) as { run_id: string }[];
    records.forEach((record, i) => {
      if ((first + i) % every === 0) record.run_id = '';
    });
    insert(records);
  }
  db.close();
}

async function measure(root: string, file: string): Promise<void> {
  const { SqliteStore } = await load(root, 'src/store/sqlite.js');
  const { plan } = await load(root, 'src/store/planner.js');
  const store = new SqliteStore(file, { writeThreads: false });
  const migrating = performance.now();
  await store.migrate();
  console.log(`${root.padEnd(28)} migrated the first build's file in ${((performance.now() - migrating) / 1000).toFixed(1)} s`);
  const range = { from: NOW - 30 * DAY_MS, to: NOW };
  const reports = [
    ['by run, top 20 by cost', { groupBy: ['run'], filters: {}, order: { by: 'cost_nanos', dir: 'desc' }, limit: 20 }],
    ["by run, run '' only", { groupBy: ['run'], filters: { run: [''] }, order: null, limit: null }],
    ["by model, run '' only", { groupBy: ['model'], filters: { run: [''] }, order: null, limit: null }],
  ] as const;
  try {
    for (const [name, report] of reports) {
      const query = plan({ ...report, ...range });
      const ms: number[] = [];
      let events = 0;
      for (let i = 0; i < Number(args.times); i++) {
        const started = performance.now();
        events = (await store.aggregate(query)).totals.events;
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      console.log(`${root.padEnd(28)} ${name.padEnd(26)} p50 ${ms[ms.length >> 1]!.toFixed(0).padStart(5)} ms  least ${ms[0]!.toFixed(0).padStart(5)} ms  (${events} events)`);
    }
  } finally {
    await store.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
try {
  const source = join(dir, 'source.db');
  await fill(roots[0]!, source);
  for (const [i, root] of roots.entries()) {
    const file = join(dir, `build-${i}.db`);
    copyFileSync(source, file);
    await measure(root, file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
