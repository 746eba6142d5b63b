/**
 * What makes a stored log record cost the insert more than a `/v1/usage` event: the bench's agent
 * log records (bench/agent-logs.ts) as the collector stores them, inserted on the calling thread into
 * a fresh file of our schema in 1,000-row transactions, beside the usage load's events and log
 * records changed one way each (docs/benchmarks.md, "OTLP logs CPU, session 10"):
 *
 *   npm run build && node dist/bench/logs-insert-cost.js --records 100000 --rounds 3
 *
 * `logs/usage-attributes`: each record's attributes JSON replaced by a usage event's;
 * `logs/sequential-ids`: each record's id replaced by one that follows the one before, as the usage
 * load's ids do within a request; `logs/both`: the two changes together; `usage`: the usage load's events. CPU time per row is the figure
 * to compare on a shared machine.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { IngestDeps } from '../collector/app.js';
import { countLimits } from '../collector/decode-limits.js';
import { prepareExport } from '../collector/otlp/receive.js';
import { OPEN_ACCESS } from '../src/auth/keys.js';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { batchInserter, openSqlite } from '../src/store/sqlite-connection.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { logsBodies } from './agent-logs.js';
import { timeInserts } from './ceiling.js';
import { makeRecords } from './events.js';

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' } } });
const BATCH = 1000;
const count = Math.ceil(Number(args.records) / BATCH) * BATCH;
const pricer = createPricer(loadPriceTable({}));
const limits = { maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 };
const deps = { counts: countLimits(limits), limits, pricer, writer: {} } as unknown as IngestDeps;

const logs: UsageRecord[] = [];
const body = logsBodies(BATCH);
for (let n = 0; logs.length < count; n++) logs.push(...(await prepareExport('logs', body(n), 'protobuf', OPEN_ACCESS, deps)).records);
const usage = makeRecords(0, count, pricer);

const sequentialId = (i: number) => `bench-logs-${String(i).padStart(9, '0')}`;
const variants: Record<string, UsageRecord[]> = {
  logs,
  'logs/usage-attributes': logs.map((record, i) => ({ ...record, attributes: usage[i]!.attributes })),
  'logs/sequential-ids': logs.map((record, i) => ({ ...record, id: sequentialId(i) })),
  'logs/both': logs.map((record, i) => ({ ...record, id: sequentialId(i), attributes: usage[i]!.attributes })),
  usage,
};

/** A fresh file of our schema, inserted into on the calling thread with SQLite's own checkpoints. */
async function open(file: string) {
  const store = new SqliteStore(file, { writeThreads: false, readThreads: false });
  await store.migrate();
  await store.close();
  const db = openSqlite(file, { synchronous: 'FULL', busyTimeoutMs: 250 });
  return { insert: batchInserter(db), close: () => db.close() };
}

console.log(`${count} rows a variant, ${args.rounds} rounds, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const [name, records] of Object.entries(variants)) {
    const { eventsPerSecond, cpuMicros } = await timeInserts(records, BATCH, open);
    console.log(`round ${round}  ${name.padEnd(22)} ${Math.round(eventsPerSecond).toString().padStart(7)} rows/s  ${cpuMicros.toFixed(1).padStart(5)} µs CPU/row  load ${loadavg()[0]!.toFixed(1)}`);
  }
}
