import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClientLoad, ClientResult, StartedClient } from './client.js';
import { threadCpuSeconds, type Running } from './server.js';

/**
 * The loads of (h) on two or more builds side by side (docs/benchmarks.md, "Logs ids, session 12"):
 * for each round, batch size and load (`POST /v1/usage` with live times, OTLP logs over HTTP
 * protobuf and over gRPC), a fresh service of each build in turn, the first build turning with the
 * round. Prints per load its events/s and the service's CPU µs (and the load's client's, in
 * brackets) and bytes written (`wchar`) per stored event, which, unlike events/s, hardly move when
 * other work shares the machine; then the medians, and each build's ratio of every other load to
 * usage (median of the rounds'). Each build is a package root with its own `dist/` (another
 * commit: `git archive <commit> | tar -x -C <dir>`, node_modules linked, `npx tsc`); a build that
 * does not know the live times runs its usage load as it is. `--loads` picks them from `usage`,
 * `logs-http`, `logs-grpc` (the default three), `traces`, (e)'s GenAI spans over OTLP/HTTP
 * protobuf, and `mixed`, (i)'s mixed trace load (`--loads mixed --batches 500`: spans/s, and CPU
 * per usage event). `--threads` also splits the CPU per stored event by thread (docs/benchmarks.md,
 * "OTLP CPU, session 13"): the main thread; the first and second thread started after the service
 * listens (the insert thread, started on the first insert, and the checkpoint thread); and the rest
 * (V8's platform threads, which run most of the garbage collector's work, and libuv's).
 *
 *   npm run build && node dist/bench/logs-ab.js [--rounds 3] [--batches 100,1000] <root> <root> …
 */

const { values: args, positionals: roots } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' }, batches: { type: 'string', default: '100,1000' }, seconds: { type: 'string', default: '10' },
    loads: { type: 'string', default: 'usage,logs-http,logs-grpc' }, threads: { type: 'boolean', default: false },
  },
});

interface Build {
  root: string;
  server: typeof import('./server.js');
  client: typeof import('./client.js');
  load: typeof import('./load.js');
}

const builds: Build[] = await Promise.all(roots.map(async (root) => ({
  root,
  server: (await import(join(resolve(root), 'dist/bench/server.js'))) as Build['server'],
  client: (await import(join(resolve(root), 'dist/bench/client.js'))) as Build['client'],
  load: (await import(join(resolve(root), 'dist/bench/load.js'))) as Build['load'],
})));
const LOADS = { connections: 8, seconds: Number(args.seconds) };
const allLoads = (batch: number): [string, (urls: { collector: string; grpc: string }) => ClientLoad][] => [
  [`usage-${batch}`, ({ collector }) => ({ kind: 'usage', options: { url: `${collector}/v1/usage`, batch, ...LOADS, times: 'live' } })],
  [`logs-http-${batch}`, ({ collector }) => ({ kind: 'logs', options: { url: collector, transport: 'http', batch, ...LOADS } })],
  [`logs-grpc-${batch}`, ({ grpc }) => ({ kind: 'logs', options: { url: grpc, transport: 'grpc', batch, ...LOADS } })],
  // (e): OTLP/HTTP protobuf, `batch` GenAI chat spans a request; only when `--loads` names it.
  [`traces-${batch}`, ({ collector }) => ({ kind: 'otlp', options: { url: collector, spans: batch, ...LOADS } })],
  // (i): the mixed trace load, `batch` spans a request, 1 in 20 with usage; its rate is spans/s, its CPU per usage event.
  [`mixed-${batch}`, ({ collector }) => ({ kind: 'mixed', options: { url: collector, spans: batch, ...LOADS } })],
];
const loads = (batch: number) => allLoads(batch).filter(([name]) => args.loads.split(',').includes(name.replace(/-\d+$/, '')));

const written = (server: Running) => Number(/wchar: (\d+)/.exec(readFileSync(`/proc/${server.child.pid}/io`, 'utf8'))![1]);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const figures = new Map<string, { rate: number[]; cpu: number[]; client: number[]; bytes: number[]; threads: number[][] }>();
const THREADS = ['main', 'insert', 'checkpoint', 'other'];

/** The CPU seconds between two readings as THREADS splits them; `atListen` holds the threads that ran before the first insert. */
function splitThreads(pid: number, atListen: Set<number>, before: Map<number, number>, after: Map<number, number>, total: number): number[] {
  const delta = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
  const [insert, checkpoint] = [...after.keys()].filter((tid) => !atListen.has(tid)).sort((a, b) => a - b);
  const split = [delta(pid), insert === undefined ? 0 : delta(insert), checkpoint === undefined ? 0 : delta(checkpoint)];
  return [...split, total - split.reduce((a, b) => a + b, 0)];
}

async function measure(build: Build, name: string, load: (urls: { collector: string; grpc: string }) => ClientLoad, file: string, round: number) {
  execFileSync('sync');
  const server = build.server.runCli(['serve'], { DATABASE_URL: file, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  try {
    const { collector, 'OTLP/gRPC': grpc } = await build.server.waitForListening(server, ['collector', 'reporting', 'OTLP/gRPC']);
    const pid = server.child.pid!;
    const atListen = new Set(threadCpuSeconds(pid).keys());
    const client: StartedClient = await build.client.startClient(load({ collector, grpc }));
    const cpu = build.server.cpuSeconds(server);
    const threadsBefore = threadCpuSeconds(pid);
    const bytes = written(server);
    const result: ClientResult = await client.go();
    await build.load.waitForIdle(collector);
    const counts = await build.load.eventCounts(collector);
    const stored = counts.accepted ?? 0;
    const f = figures.get(`${name} ${build.root}`) ?? { rate: [], cpu: [], client: [], bytes: [], threads: [] };
    figures.set(`${name} ${build.root}`, f);
    f.rate.push(result.eventsPerSecond);
    const total = build.server.cpuSeconds(server) - cpu;
    f.cpu.push((total * 1e6) / stored);
    f.client.push((result.client.cpuSeconds * 1e6) / stored);
    f.threads.push(splitThreads(pid, atListen, threadsBefore, threadCpuSeconds(pid), total).map((s) => (s * 1e6) / stored));
    f.bytes.push((written(server) - bytes) / stored);
    console.log(`round ${round} ${`${name} ${build.root}`.padEnd(44)} ${Math.round(result.eventsPerSecond).toString().padStart(6)}/s  ${f.cpu.at(-1)!.toFixed(1)} µs CPU/ev (client ${f.client.at(-1)!.toFixed(1)})  ` +
      `${Math.round(f.bytes.at(-1)!)} B written/ev  ${args.threads ? `${threadsText(f.threads.at(-1)!)}  ` : ''}failed ${result.failures}, duplicate ${counts.duplicate ?? 0}, rejected ${counts.rejected ?? 0}  load ${loadavg()[0]!.toFixed(1)}`);
  } finally {
    await build.server.stop(server);
  }
}

function threadsText(µs: number[]): string {
  return THREADS.map((name, i) => `${name} ${µs[i]!.toFixed(1)}`).join(' / ');
}

const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
const batches = args.batches.split(',').map(Number);
try {
  let n = 0;
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const batch of batches) {
      for (const [name, load] of loads(batch)) {
        const order = builds.map((_, i) => builds[(i + round - 1) % builds.length]!);
        for (const build of order) await measure(build, name, load, join(dir, `${n++}.db`), round);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('medians:');
for (const [key, f] of figures) {
  const threads = args.threads ? `  ${threadsText(THREADS.map((_, i) => median(f.threads.map((t) => t[i]!))))}` : '';
  console.log(`  ${key.padEnd(44)} ${Math.round(median(f.rate)).toString().padStart(6)}/s (${f.rate.map(Math.round).join(', ')})  ${median(f.cpu).toFixed(1)} µs CPU/ev (client ${median(f.client).toFixed(1)})  ${Math.round(median(f.bytes))} B written/ev${threads}`);
}
for (const build of builds) {
  for (const batch of batches) {
    const usage = figures.get(`usage-${batch} ${build.root}`)?.rate;
    if (usage === undefined) continue;
    for (const [name] of loads(batch).filter(([load]) => load !== `usage-${batch}`)) {
      const ratios = figures.get(`${name} ${build.root}`)!.rate.map((rate, i) => rate / usage[i]!);
      console.log(`  ${build.root}: ${name} / usage-${batch}: ${Math.round(median(ratios) * 100)} % (${ratios.map((r) => Math.round(r * 100)).join(', ')})`);
    }
  }
}
