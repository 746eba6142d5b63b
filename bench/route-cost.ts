/**
 * The collector's main-thread CPU per record from a request's body to its answer, in one process and
 * without a socket or a database: the bench's bodies through the collector app (`app.request`), so
 * the route, the body reader, decoding, validation, normalisation, pricing, the writer's queue and
 * the answer all run as served; the store answers every insert at once with "all new", so what the
 * store and its insert thread do is left out (docs/benchmarks.md, "Main thread after decoding,
 * session 15"). Loads: `usage` (native JSON, `--batch` events a request), `logs` (OTLP/HTTP
 * protobuf log records, `--batch` a request).
 *
 *   npm run build && node dist/bench/route-cost.js --load usage --batch 1000 --requests 200
 *
 * Instructions of the timed requests' main thread: callgrind dumps at each `process.cpuUsage()`, which
 * prom-client calls once as the collector's modules load and this tool before and after the timed
 * loop, so thread 1's third dump (`callgrind.out.<pid>.3-01`) is the timed loop:
 *
 *   valgrind --tool=callgrind --separate-threads=yes --dump-before='node::CPUUsage*' node dist/bench/route-cost.js --load usage --requests 60 --warmup 60
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { BodyReader } from '../src/http/body.js';
import { createCollectorApp, ingestDeps } from '../collector/app.js';
import { BatchWriter } from '../collector/writer.js';
import type { UsageRecord } from '../src/event/schema.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import type { Store } from '../src/store/types.js';
import { logsBodies } from './agent-logs.js';
import { takePool, usageBodies } from './load.js';

const { values: args } = parseArgs({
  options: {
    load: { type: 'string', default: 'usage' }, batch: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '200' }, warmup: { type: 'string', default: '60' },
  },
});
const batch = Number(args.batch);
const requests = Number(args.requests);
const warmup = Number(args.warmup);

/** Commits at once, every record new: the main thread's side of a store only. */
const store = { kind: 'sqlite', insertsInFlight: 4, insertBatch: async (records: readonly UsageRecord[]) => records.map(() => true) } as unknown as Store;
const writer = new BatchWriter(store, { maxQueuedEvents: 1_000_000, maxQueuedBytes: 1e9, maxBatchEvents: 10_000, retryForMs: 0 });
const app = createCollectorApp(ingestDeps({
  store, writer, pricer: createPricer(loadPriceTable({})), keys: [],
  limits: { maxEventsPerRequest: 10_000, maxRecordsPerRequest: 10_000, maxValuesPerRequest: 1_000_000 },
  bodies: new BodyReader({ maxBodyBytes: 64 * 1024 * 1024, maxDecodedBytes: 64 * 1024 * 1024, maxDecodedBytesInFlight: 256 * 1024 * 1024, bodyIdleMs: 30_000, requestTimeoutMs: 300_000 }),
  budgetStatuses: async () => [],
}));

const LOADS: Record<string, { path: string; type: string; bodies: () => (n: number) => string | Buffer }> = {
  usage: {
    path: '/v1/usage', type: 'application/json',
    bodies: () => {
      const options = { url: '', batch, connections: 1, seconds: Math.ceil(((requests + warmup) * batch) / 40_000) + 1, times: 'live' as const };
      return usageBodies(options, takePool(options));
    },
  },
  logs: { path: '/v1/logs', type: 'application/x-protobuf', bodies: () => logsBodies(batch) },
};
const load = LOADS[args.load!];
if (!load) throw new Error(`--load must be one of ${Object.keys(LOADS).join(', ')}`);
const bodyOf = load.bodies();
// Made before the clock starts, so only the collector's work is measured; every request's records are new.
const bodies = Array.from({ length: warmup + requests }, (_, n) => bodyOf(n));

async function send(n: number): Promise<void> {
  const answer = await app.request(load!.path, { method: 'POST', headers: { 'content-type': load!.type }, body: bodies[n]! });
  const text = await answer.text();
  if (answer.status !== 200) throw new Error(`answer ${answer.status}: ${text.slice(0, 300)}`);
}

for (let n = 0; n < warmup; n++) await send(requests + n);
const cpu = process.cpuUsage();
for (let n = 0; n < requests; n++) await send(n);
const { user, system } = process.cpuUsage(cpu);
console.log(`${args.load} ${batch} a request × ${requests}: ${((user + system) / (requests * batch)).toFixed(2)} µs CPU a record, load ${loadavg()[0]!.toFixed(1)}`);
