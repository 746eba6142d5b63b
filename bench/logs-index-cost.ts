/**
 * What the logs' scattered ids cost the insert, at the size a load of `npm run bench` reaches on its
 * fresh service (docs/benchmarks.md, "Logs ingest, session 11"): `--records` rows of one variant
 * into a fresh file of our schema on the calling thread, `--tx` rows a transaction (about what the
 * service's insert thread commits at once under 100 a request), synchronous=FULL, SQLite's own
 * checkpoints. Prints CPU µs and bytes written (WAL and checkpoints: /proc/self/io) per row, and the
 * pages of the id index and of the whole file at the end.
 *
 *   npm run build && node dist/bench/logs-index-cost.js --records 300000 --tx 300 --variants "logs;logs/sorted;usage"
 *
 * Variants: `logs` (the bench's agent log records as the collector stores them), `logs/sequential-ids`
 * (their ids replaced by ones that follow each other), `usage` (the reference's events),
 * `usage/scattered` (the same with 16 random hex digits before each id, as load (h) scatters them).
 * `/sorted` after any of them: each transaction's rows sorted by (project, id) before they go in.
 * `/narrow` after the variant and before `/sorted`: a prototype of a narrower id index, not our schema: the table
 * without its unique (project, id), an integer `id_key` (53 bits of a hash of project and id) with an
 * index of its own, and each row looked up by (id_key, project, id) before the new ones go in.
 * `@cache=<KiB>`: the connection's page cache; `@mmap=<KiB>`: its memory map; `@page=<bytes>`: the file's
 * page size (each may follow a variant).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { IngestDeps } from '../collector/app.js';
import { countLimits } from '../collector/decode-limits.js';
import { prepareExport } from '../collector/otlp/receive.js';
import { OPEN_ACCESS } from '../src/auth/keys.js';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { batchInserter, openSqlite, RECORD_COLUMNS } from '../src/store/sqlite-connection.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { logsBodies } from './agent-logs.js';
import { makeRecords } from './events.js';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '300000' },
    tx: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'logs;logs/sorted;usage;usage/scattered' },
  },
});
const count = Number(args.records);
const tx = Number(args.tx);
const pricer = createPricer(loadPriceTable({}));
const limits = { maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 };
const deps = { counts: countLimits(limits), limits, pricer, writer: {} } as unknown as IngestDeps;

async function logRecords(): Promise<UsageRecord[]> {
  const logs: UsageRecord[] = [];
  const body = logsBodies(1000);
  for (let n = 0; logs.length < count; n++) logs.push(...(await prepareExport('logs', body(n), 'protobuf', OPEN_ACCESS, deps)).records);
  return logs.slice(0, count);
}

const sources: Record<string, () => Promise<UsageRecord[]>> = {
  logs: logRecords,
  'logs/sequential-ids': async () => (await logRecords()).map((r, i) => ({ ...r, id: `bench-logs-${String(i).padStart(9, '0')}` })),
  usage: async () => makeRecords(0, count, pricer),
  'usage/scattered': async () => makeRecords(0, count, pricer).map((r) => ({ ...r, id: `${randomBytes(8).toString('hex')}${r.id}` })),
};

/** cyrb53: 53 bits of hash, an exact JavaScript number. */
function key53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The `/narrow` prototype: the table rebuilt (it is empty) without its unique key, with `id_key` and its index. */
function narrowInserter(db: Database.Database): (records: readonly UsageRecord[]) => boolean[] {
  const others = db.prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = 'usage_events' AND type IN ('index', 'trigger') AND sql IS NOT NULL`).pluck().all() as string[];
  const table = (db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'usage_events'`).pluck().get() as string)
    .replace(/,\s*UNIQUE \(project, id\)/, ',\n  id_key INTEGER NOT NULL');
  db.exec(`DROP TABLE usage_events; ${table}; ${others.join(';\n')}; CREATE INDEX usage_events_id_key ON usage_events (id_key);`);
  const stored = db.prepare<[number, string, string]>('SELECT 1 FROM usage_events WHERE id_key = ? AND project = ? AND id = ?').pluck();
  const statements = new Map<number, Database.Statement>();
  const statement = (rows: number) => db.prepare(`INSERT INTO usage_events (${RECORD_COLUMNS.join(', ')}, id_key) VALUES ${
    Array.from({ length: rows }, () => `(${RECORD_COLUMNS.map(() => '?').join(', ')}, ?)`).join(', ')}`);
  const insertAll = db.transaction((records: readonly UsageRecord[]) => {
    const seen = new Set<string>();
    const fresh: [UsageRecord, number][] = [];
    const inserted = records.map((r) => {
      const both = `${r.project}\u0000${r.id}`;
      const k = key53(both);
      // A key is only a place to look: the full project and id decide, so two ids sharing a key both stay.
      if (seen.has(both) || stored.get(k, r.project, r.id) !== undefined) return false;
      seen.add(both);
      fresh.push([r, k]);
      return true;
    });
    for (let start = 0; start < fresh.length; start += 50) {
      const chunk = fresh.slice(start, start + 50);
      const values: unknown[] = [];
      for (const [r, k] of chunk) values.push(...RECORD_COLUMNS.map((c) => r[c]), k);
      let prepared = statements.get(chunk.length);
      if (!prepared) statements.set(chunk.length, (prepared = statement(chunk.length)));
      prepared.run(values);
    }
    return inserted;
  });
  return (records) => insertAll.immediate(records);
}

const byKey = (a: UsageRecord, b: UsageRecord) => (a.project < b.project ? -1 : a.project > b.project ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const written = () => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

async function run(variant: string): Promise<string> {
  const [name, ...options] = variant.split('@');
  let base = name!;
  const sorted = base.endsWith('/sorted');
  if (sorted) base = base.slice(0, -'/sorted'.length);
  const narrow = base.endsWith('/narrow');
  if (narrow) base = base.slice(0, -'/narrow'.length);
  const source = sources[base];
  if (!source) throw new Error(`unknown variant ${variant}`);
  const option = (key: string) => options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const cache = option('cache');
  const mmap = option('mmap');
  const records = await source();
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
  try {
    const file = join(dir, 'logs.db');
    const page = option('page');
    if (page) {
      const created = new Database(file);
      created.pragma(`page_size = ${Number(page)}`);
      created.exec('VACUUM');
      created.close();
    }
    const store = new SqliteStore(file, { writeThreads: false, readThreads: false });
    await store.migrate();
    await store.close();
    const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
    if (cache) db.pragma(`cache_size = -${cache}`);
    if (mmap) db.pragma(`mmap_size = ${Number(mmap) * 1024}`);
    const insert = narrow ? narrowInserter(db) : batchInserter(db);
    const bytes = written();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < records.length; i += tx) {
      const batch = records.slice(i, i + tx);
      insert(sorted ? batch.sort(byKey) : batch);
    }
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const perRow = (written() - bytes) / records.length;
    const pages = db.prepare(`SELECT sum(name IN ('sqlite_autoindex_usage_events_1', 'usage_events_id_key')), count(*) FROM dbstat`).raw().get() as [number, number];
    db.close();
    return `${variant.padEnd(32)} ${Math.round(records.length / seconds).toString().padStart(7)} rows/s  ${((user + system) / records.length).toFixed(1).padStart(5)} µs CPU/row (user ${(user / records.length).toFixed(1)})  ${Math.round(perRow).toString().padStart(6)} bytes written/row  id index ${pages[0]} of ${pages[1]} pages`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${count} rows a variant, ${tx} a transaction, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const variant of args.variants.split(';')) console.log(`round ${round}  ${await run(variant)}  load ${loadavg()[0]!.toFixed(1)}`);
}
