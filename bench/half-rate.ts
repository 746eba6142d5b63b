/**
 * Only the loads of (b): the peak of 100- and 1,000-event batches, then each at half that rate,
 * as `npm run bench` runs them, on a fresh `tokentally serve` per round. With several `--cli`
 * (built copies of the service) the rounds alternate between them, so that builds compared on a
 * shared machine meet the same minutes (docs/benchmarks.md, "Half-rate tails, session 9").
 *
 *   npm run build && node dist/bench/half-rate.js [--cli <dist/service/cli.js>]... [--rounds 3] [--seconds 10]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SERVICE_NODE_FLAGS } from '../service/node-flags.js';
import { fmt } from './format.js';
import { runLoad, waitForIdle, type LoadResult } from './load.js';
import { CLI, peakRssMB, runCli, runScript, stop, waitForUrls } from './server.js';

const { values: args } = parseArgs({
  options: {
    cli: { type: 'string', multiple: true, default: [CLI] },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);

const line = (label: string, r: LoadResult) =>
  `  ${label.padEnd(22)} ${fmt(r.eventsPerSecond).padStart(7)} ev/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  failed ${r.failures}`;

async function round(cli: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-half-rate-'));
  const file = join(dir, 'ingest.db');
  const server = runScript(cli, ['serve'], { DATABASE_URL: file, COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' }, [...SERVICE_NODE_FLAGS]);
  const { collector } = await waitForUrls(server);
  try {
    const load = async (batch: number, rate?: number) => {
      await waitForIdle(collector);
      execFileSync('sync');
      return runLoad({ url: `${collector}/v1/usage`, batch, connections, seconds, rate });
    };
    console.log(`${new Date().toISOString().slice(11, 19)} ${cli}  load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const peak100 = await load(100);
    console.log(line('100, peak', peak100));
    const peak1000 = await load(1000);
    console.log(line('1,000, peak', peak1000));
    for (const [batch, peak] of [[1000, peak1000], [100, peak100]] as const) {
      const rate = peak.requests / seconds / 2;
      console.log(line(`${fmt(batch)}, half (${rate.toFixed(1)}/s)`, await load(batch, rate)));
    }
    console.log(`  peak RSS ${fmt(peakRssMB(server))} MB`);
  } finally {
    await stop(server);
    const verify = runCli(['verify'], { DATABASE_URL: file });
    if ((await verify.exited) !== 0) throw new Error(`verify failed on ${file}:\n${verify.output()}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let r = 0; r < Number(args.rounds); r++) for (const cli of args.cli) await round(cli);
