/**
 * One request alone: native batches sent one at a time (each after the answer to the one before, with
 * a pause between), on a fresh `tokentally serve` per round. Prints the answer's latency and each
 * thread's CPU a request, read from the kernel (`/proc/<pid>/task/<tid>/schedstat`, ns of CPU), so
 * the figures hold on a shared machine: the main thread's (HTTP, parse, validate, price, hand-off),
 * the insert thread's (rows, indexes, triggers, its share of the commit) and the rest (V8's GC
 * helpers, the checkpoint thread). What the latency holds beyond the CPU is mostly the fsync.
 * With several `--cli` the rounds alternate between them (docs/benchmarks.md, "Half-rate tails,
 * session 13").
 *
 *   npm run build && node dist/bench/serial-path.js [--cli <dist/service/cli.js>]... [--rounds 3] [--requests 200] [--batch 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SERVICE_NODE_FLAGS } from '../service/node-flags.js';
import { takePool, usageBodies } from './load.js';
import { percentile } from './reports.js';
import { CLI, runScript, stop, threadCpuSeconds, waitForUrls } from './server.js';

const { values: args } = parseArgs({
  options: {
    cli: { type: 'string', multiple: true, default: [CLI] },
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '200' },
    batch: { type: 'string', default: '1000' },
    /** ms between an answer and the next request: the threads go idle, as between requests at half rate. */
    gap: { type: 'string', default: '20' },
  },
});
const requests = Number(args.requests);
const batch = Number(args.batch);
/** Requests sent first and not counted: the threads start, V8 compiles the hot path. */
const WARMUP = 50;

async function round(cli: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-serial-path-'));
  const server = runScript(cli, ['serve'], { DATABASE_URL: join(dir, 'ingest.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' }, [...SERVICE_NODE_FLAGS]);
  const { collector } = await waitForUrls(server);
  const pid = server.child.pid!;
  const options = { url: `${collector}/v1/usage`, batch, connections: 1, seconds: Math.ceil((requests + WARMUP) * batch / 40_000) + 1 };
  const body = usageBodies(options, takePool(options));
  try {
    const latencies: number[] = [];
    let before = new Map<number, number>();
    for (let n = 0; n < WARMUP + requests; n++) {
      if (n === WARMUP) before = threadCpuSeconds(pid);
      const sent = performance.now();
      const answer = await fetch(options.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(n) });
      await answer.arrayBuffer();
      if (answer.status !== 200) throw new Error(`answer ${answer.status}`);
      if (n >= WARMUP) latencies.push(performance.now() - sent);
      await new Promise((r) => setTimeout(r, Number(args.gap)));
    }
    const after = threadCpuSeconds(pid);
    const used = [...after].map(([tid, seconds]) => ({ tid, ms: ((seconds - (before.get(tid) ?? 0)) * 1e3) / requests }));
    const main = used.find((t) => t.tid === pid)!.ms;
    const others = used.filter((t) => t.tid !== pid).sort((a, b) => b.ms - a.ms);
    const insert = others[0]!.ms;
    const rest = others.slice(1).reduce((sum, t) => sum + t.ms, 0);
    latencies.sort((a, b) => a - b);
    console.log(`${new Date().toISOString().slice(11, 19)} ${cli}  load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log(`  ${batch}-event requests one at a time: p50 ${percentile(latencies, 50).toFixed(1)} ms, p90 ${percentile(latencies, 90).toFixed(1)}, p99 ${percentile(latencies, 99).toFixed(1)}`);
    console.log(`  CPU a request: main thread ${main.toFixed(2)} ms, busiest other thread (insert) ${insert.toFixed(2)} ms, all the others ${rest.toFixed(2)} ms`);
  } finally {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let r = 0; r < Number(args.rounds); r++) for (const cli of args.cli) await round(cli);
