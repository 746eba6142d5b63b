/**
 * Peak RSS of the service under one load, and what it is made of when it peaks: the run's figures
 * (g) and (g') say how much, this says of what. Usage:
 *   node dist/bench/rss.js --load logs-http [--seconds 8] [--connections 8] [-- <extra Node flags>]
 * Loads: usage (1,000-event batches), logs-http (1,000 records a request), mixed (mixed traces).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLogsLoad } from './agent-logs.js';
import { eventCounts, runLoad, waitForIdle, type LoadResult } from './load.js';
import { runMixedTraceLoad } from './otlp.js';
import { cpuSeconds, peakRssMB, runCli, stop, waitForListening } from './server.js';

const { values: args, positionals: nodeFlags } = parseArgs({
  options: { load: { type: 'string', default: 'usage' }, seconds: { type: 'string', default: '8' }, connections: { type: 'string', default: '8' } },
  allowPositionals: true,
});
const LOADS: Record<string, (collector: string, o: { seconds: number; connections: number }) => Promise<LoadResult>> = {
  usage: (collector, o) => runLoad({ url: `${collector}/v1/usage`, batch: 1000, ...o }),
  'logs-http': (collector, o) => runLogsLoad({ url: collector, transport: 'http', batch: 1000, ...o }),
  mixed: (collector, o) => runMixedTraceLoad({ url: collector, spans: 500, ...o }),
};
const load = LOADS[args.load];
if (!load) throw new Error(`--load must be one of ${Object.keys(LOADS).join(', ')}`);

const dir = mkdtempSync(join(tmpdir(), 'tokentally-rss-'));
const server = runCli(['serve'], { DATABASE_URL: join(dir, 'rss.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' }, nodeFlags);
const mib = (re: RegExp, text: string) => Math.round(Number(re.exec(text)?.[1] ?? NaN) / 1024);
try {
  const { collector } = await waitForListening(server, ['collector', 'reporting']);
  let atPeak = { rss: 0, text: '' };
  const sample = async () => {
    const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
    const rss = mib(/VmRSS:\s+(\d+)/, status);
    if (rss <= atPeak.rss) return;
    const rollup = readFileSync(`/proc/${server.child.pid}/smaps_rollup`, 'utf8');
    const metrics = await (await fetch(`${collector}/metrics`)).text();
    const metric = (name: string) => Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 2 ** 20);
    const spaces = [...metrics.matchAll(/^nodejs_heap_space_size_total_bytes\{space="(\w+)"\} (\S+)$/gm)].map(([, s, v]) => `${s} ${Math.round(Number(v) / 2 ** 20)}`);
    atPeak = {
      rss,
      text: `${rss} MiB resident (${mib(/Anonymous:\s+(\d+)/, rollup)} anonymous), ${/Threads:\s+(\d+)/.exec(status)?.[1]} threads; ` +
        `main thread's V8 heap ${metric('nodejs_heap_size_total_bytes')} MiB (${spaces.filter((s) => !s.endsWith(' 0')).join(', ')}), external ${metric('nodejs_external_memory_bytes')} MiB`,
    };
  };
  const timer = setInterval(() => void sample().catch(() => {}), 100);
  const cpuBefore = cpuSeconds(server);
  const result = await load(collector, { seconds: Number(args.seconds), connections: Number(args.connections) });
  // Requests still being decoded when the load stopped count too: wait until the count settles (a
  // 1,000-record request can take seconds on a loaded machine).
  let accepted = -1;
  for (;;) {
    await waitForIdle(collector, 120_000);
    const now = (await eventCounts(collector)).accepted ?? 0;
    if (now === accepted) break;
    accepted = now;
    await new Promise((r) => setTimeout(r, 3_000));
  }
  clearInterval(timer);
  const cpu = cpuSeconds(server) - cpuBefore;
  console.log(`${args.load}, ${args.connections} connections, ${args.seconds} s${nodeFlags.length ? `, Node flags ${nodeFlags.join(' ')}` : ''}:`);
  console.log(`  ${Math.round(result.eventsPerSecond)} events/s while loaded, ${accepted} stored, ${accepted > 0 ? ((cpu * 1e6) / accepted).toFixed(1) : '-'} µs of service CPU per event`);
  console.log(`  peak RSS ${Math.round(peakRssMB(server))} MB; at the highest sample: ${atPeak.text}`);
} finally {
  await stop(server);
  rmSync(dir, { recursive: true, force: true });
}
