import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { IngestDeps } from '../collector/app.js';
import { countLimits } from '../collector/decode-limits.js';
import { prepareExport, type Signal } from '../collector/otlp/receive.js';
import { OPEN_ACCESS } from '../src/auth/keys.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { logsBodies } from './agent-logs.js';
import { otlpTypes, type OtlpEncoding } from '../collector/otlp/decode.js';
import { asOtlpJson, genAiTraceBodies, mixedTraceBodies } from './otlp.js';

/**
 * The collector's CPU per OTLP record, in-process and without HTTP or the database: each body of
 * the bench's loads decoded, mapped, validated and priced (`prepareExport`) over and over, with the
 * CPU time it took and the longest the event loop was held (by one request, or a slice of one). Steadier on a shared machine
 * than the end-to-end loads, and what `perf stat` can count instructions of:
 * `node dist/bench/otlp-cpu.js --load mixed --requests 200` (`--encoding json`: the same requests as
 * OTLP/JSON; `--profile /tmp/otlp` writes the timed loop's CPU profile to /tmp/otlp.mixed.cpuprofile;
 * `--allocations` prints the bytes the timed loop allocated a record, in all and by function, from
 * V8's sampling heap profiler, objects that died young included: what fills the young generation).
 * `--warmup <n>` requests first, not timed (20, at most as many as are timed). The main thread's
 * instructions in the timed loop alone: callgrind dumps its counts at each `process.cpuUsage()`, and
 * the last dump of thread 1 is the loop (docs/benchmarks.md, "OTLP logs main thread, session 14"):
 * `valgrind --tool=callgrind --separate-threads=yes --dump-before='node::CPUUsage*' node
 * dist/bench/otlp-cpu.js --load logs-100 --requests 60 --warmup 60`.
 */

const LOADS: Record<string, { signal: Signal; records: number; bodies: (records: number) => (n: number) => Buffer }> = {
  genai: { signal: 'traces', records: 100, bodies: genAiTraceBodies },
  mixed: { signal: 'traces', records: 500, bodies: mixedTraceBodies },
  'mixed-10k': { signal: 'traces', records: 10_000, bodies: mixedTraceBodies },
  'genai-10k': { signal: 'traces', records: 10_000, bodies: genAiTraceBodies },
  'logs-100': { signal: 'logs', records: 100, bodies: logsBodies },
  logs: { signal: 'logs', records: 1000, bodies: logsBodies },
};

const { values: args } = parseArgs({
  options: { load: { type: 'string' }, requests: { type: 'string', default: '100' }, encoding: { type: 'string', default: 'protobuf' }, profile: { type: 'string' }, allocations: { type: 'boolean', default: false }, warmup: { type: 'string', default: '20' } },
});
const encoding = args.encoding as OtlpEncoding;
const limits = { maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 };
// The span memory is kept per writer object; nothing here writes.
const deps = { counts: countLimits(limits), limits, pricer: createPricer(loadPriceTable({})), writer: {} } as unknown as IngestDeps;

async function measure(name: string, requests: number): Promise<void> {
  const load = LOADS[name]!;
  const protobufOf = load.bodies(load.records);
  // Made (and converted to JSON) before the clock starts, so only the collector's work is measured;
  // every request's records are new.
  const bodyOf = encoding === 'json' ? (n: number) => asOtlpJson(otlpTypes[load.signal].request, protobufOf(n)) : protobufOf;
  const warmUp = Math.min(Number(args.warmup), requests);
  const bodies = Array.from({ length: warmUp + requests }, (_, n) => bodyOf(n));
  const next = (n: number) => prepareExport(load.signal, bodies[n]!, encoding, OPEN_ACCESS, deps);
  // Warm up, so the optimised code is measured.
  for (let n = 0; n < warmUp; n++) await next(requests + n);
  const profiler = args.profile === undefined ? undefined : await startProfile();
  const sampler = args.allocations ? await startAllocations() : undefined;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const cpu = process.cpuUsage();
  const started = performance.now();
  // Each request after a turn of the event loop, so that the delay monitor sees every one.
  for (let n = 0; n < requests; n++) {
    await next(n);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const wallMs = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  delay.disable();
  if (sampler) printAllocations((await sampler.post('HeapProfiler.stopSampling')).profile, requests * load.records);
  if (profiler) writeFileSync(`${args.profile}.${name}.cpuprofile`, JSON.stringify((await profiler.post('Profiler.stop')).profile));
  const records = requests * load.records;
  console.log(
    `${name.padEnd(10)} ${encoding.padEnd(8)} ${String(load.records).padStart(6)} records × ${requests}: ${((user + system) / records).toFixed(2)} µs CPU/record, `
    + `${Math.round(records / (wallMs / 1000)).toLocaleString('en-US')} records/s on one thread, event loop held ≤ ${(delay.max / 1e6).toFixed(1)} ms`,
  );
}

/** A CPU profile of the timed loop only (`--profile <path prefix>`), without making the bodies. */
async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return session;
}

/** V8's sampling heap profiler, every 256 bytes, keeping the samples of objects collected since. */
async function startAllocations(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return session;
}

type SamplingNode = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: SamplingNode[] };

function printAllocations(profile: { head: SamplingNode }, records: number): void {
  const bytes = new Map<string, number>();
  const walk = (node: SamplingNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.split('/').pop()}:${lineNumber + 1}`;
    bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    node.children.forEach(walk);
  };
  walk(profile.head);
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  console.log(`allocated ${Math.round(total / records)} bytes a record; by function:`);
  for (const [key, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${Math.round(size / records).toString().padStart(6)}  ${key}`);
}

for (const name of args.load ? [args.load] : Object.keys(LOADS)) {
  if (!LOADS[name]) throw new Error(`--load must be one of ${Object.keys(LOADS).join(', ')}`);
  await measure(name, Number(args.requests) / (LOADS[name].records >= 10_000 ? 10 : 1));
}
