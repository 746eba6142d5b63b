/**
 * The insert cost of schema variants, measured in one process, round after round, each variant in
 * turn on a fresh file (docs/benchmarks.md, "Insert cost, session 9"):
 *
 *   npm run build && node dist/bench/insert-cost.js --events 200000 --rounds 3 --variants "a;a';ours;clustered"
 *
 * `a` and `a'` are the benchmark's two ceilings as `npm run bench` measures them. The others run on
 * the calling thread with SQLite's own checkpoints, as (a') does: our schema (`ours`), or our schema
 * changed as the variant says; `sql:<file>` runs that file's SQL on our schema (another rollup
 * trigger, say). `@page=<bytes>` after a variant's name creates its file with that page size. On a
 * shared machine the CPU time per event is the figure to compare; instructions (callgrind) move less.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { batchInserter, openSqlite } from '../src/store/sqlite-connection.js';
import type { UsageRecord } from '../src/event/schema.js';
import { measureCeiling, measureSeedSchemaCeiling, SEED_SCHEMA, timeInserts, type Ceiling } from './ceiling.js';
import { makeRecords } from './events.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    variants: { type: 'string', default: "a;a';ours;clustered" },
  },
});

/** Rows a millisecond can hold in the clustered variants: ts × SLOTS + slot stays below 2^53 until 2100. */
const SLOTS = 2048;

/** The rollup trigger of the seeds: no overflow carry, no reported or unpriced sums, no hour mask. */
const SEEDS_TRIGGER = `DROP TRIGGER usage_events_rollup;
CREATE TRIGGER usage_events_rollup AFTER INSERT ON usage_events
BEGIN
  INSERT INTO usage_daily (day, project, agent_id, model, provider, task_label, events, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, reported_cost_nanos, unpriced_events)
  VALUES (date(NEW.ts / 86400000 + 2440587.5), NEW.project, NEW.agent_id, NEW.model, NEW.provider, NEW.task_label, 1,
    NEW.input_tokens, NEW.output_tokens, NEW.cache_read_tokens, NEW.cache_write_tokens, NEW.reasoning_tokens, NEW.cost_nanos, 0, 0)
  ON CONFLICT DO UPDATE SET events = events + 1, input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens, cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_nanos = cost_nanos + excluded.cost_nanos;
END;`;

type Insert = (records: readonly UsageRecord[]) => unknown;

/**
 * Each record's seq in a time-clustered table: ts × SLOTS plus the next free slot of its millisecond.
 * `lookup`: the highest seq already stored in each millisecond of the batch, read in one query; without
 * it the variant assumes every millisecond empty (the lower bound of the clustering's cost).
 */
function clusteredSeqs(db: Database.Database, lookup: boolean): (records: readonly UsageRecord[]) => number[] {
  const highest = db.prepare(`SELECT value, (SELECT seq FROM usage_events WHERE seq < (value + 1) * ${SLOTS} ORDER BY seq DESC LIMIT 1) FROM json_each(?)`).raw();
  const seen = new Map<number, number>();
  return (records) => {
    const next = lookup ? new Map<number, number>() : seen;
    if (lookup) {
      const times = [...new Set(records.map((r) => r.ts))];
      for (const [ts, top] of highest.all(JSON.stringify(times)) as [number, number | null][]) next.set(ts, top !== null && top >= ts * SLOTS ? top + 1 : ts * SLOTS);
    }
    return records.map((r) => {
      const seq = next.get(r.ts) ?? r.ts * SLOTS;
      next.set(r.ts, seq + 1);
      return seq;
    });
  };
}

/**
 * The variant's inserter: batchInserter's 50-row statements with the seq column bound too, in one
 * IMMEDIATE transaction a batch.
 */
function clusteredInserter(db: Database.Database, lookup: boolean): Insert {
  const seqs = clusteredSeqs(db, lookup);
  const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('usage_events') as (keyof UsageRecord | 'seq')[]);
  const row = `(${columns.map(() => '?').join(', ')})`;
  const statements = new Map<number, Database.Statement>();
  const statement = (rows: number) =>
    db.prepare(`INSERT INTO usage_events (${columns.join(', ')}) VALUES ${Array(rows).fill(row).join(', ')} ON CONFLICT (project, id) DO NOTHING RETURNING project, id`).raw();
  return db.transaction((records: readonly UsageRecord[]) => {
    const seq = seqs(records);
    for (let start = 0; start < records.length; start += 50) {
      const rows = records.slice(start, start + 50);
      const values = rows.flatMap((r, i) => columns.map((c) => (c === 'seq' ? seq[start + i] : r[c])));
      if (!statements.has(rows.length)) statements.set(rows.length, statement(rows.length));
      statements.get(rows.length)!.all(values);
    }
  }).immediate;
}

/** Our schema changed as `variant` says, on the calling thread. */
async function ourVariant(file: string, variant: string): Promise<{ insert: Insert; close(): void }> {
  const store = new SqliteStore(file, { writeThreads: false, readThreads: false });
  await store.migrate();
  await store.close();
  const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
  const changes: Record<string, string> = {
    ours: '',
    'no-ts-index': 'DROP INDEX usage_events_ts',
    'narrow-ts-index': 'DROP INDEX usage_events_ts; CREATE INDEX usage_events_ts ON usage_events (ts)',
    'no-run-index': 'DROP INDEX usage_events_run_ts',
    'seeds-trigger': SEEDS_TRIGGER,
    clustered: 'DROP INDEX usage_events_ts',
    'clustered-blind': 'DROP INDEX usage_events_ts',
  };
  if (variant.startsWith('sql:')) changes[variant] = readFileSync(variant.slice('sql:'.length), 'utf8');
  if (!(variant in changes)) throw new Error(`unknown variant ${variant}`);
  db.exec(changes[variant]!);
  return { insert: variant.startsWith('clustered') ? clusteredInserter(db, variant === 'clustered') : batchInserter(db), close: () => db.close() };
}

/** A variant measured on a fresh file, as `timeInserts` times (a) and (a'). */
function measure(name: string, records: UsageRecord[]): Promise<Ceiling> {
  const [variant = '', page] = name.split('@page=');
  if (variant === 'a') return measureCeiling(records);
  if (variant === "a'") return measureSeedSchemaCeiling(records);
  return timeInserts(records, 1000, async (file) => {
    if (page) {
      const created = new Database(file);
      created.pragma(`page_size = ${Number(page)}`);
      created.exec('VACUUM');
      created.close();
    }
    if (variant === 'seeds') {
      const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
      db.exec(SEED_SCHEMA);
      return { insert: batchInserter(db, 'id'), close: () => db.close() };
    }
    return ourVariant(file, variant);
  });
}

const records = makeRecords(0, Number(args.events), createPricer(loadPriceTable({})));
const variants = args.variants.split(';');
console.log(`${records.length} events, ${args.rounds} rounds, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const name of variants) {
    const { eventsPerSecond, cpuMicros } = await measure(name, records);
    console.log(`round ${round}  ${name.padEnd(24)} ${Math.round(eventsPerSecond).toString().padStart(7)} events/s  ${cpuMicros.toFixed(1).padStart(5)} µs CPU/event  load ${loadavg()[0]!.toFixed(1)}`);
  }
}
