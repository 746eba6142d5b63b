import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli, waitForUrls } from './server.js';
import { measureCeiling } from './ceiling.js';
import { makeEvents, toRecords } from './events.js';
import { runLoad, type LoadResult } from './load.js';
import { runOtlpLoad } from './otlp.js';
import { runPostgresBench } from './postgres.js';

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, postgres: { type: 'boolean', default: false } },
});
const size = args.quick
  ? { ceilingEvents: 20_000, seconds: 2, clients: 4 }
  : { ceilingEvents: 300_000, seconds: 10, clients: 8 };

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (ok: boolean) => (ok ? 'met' : 'falls short');

function line(label: string, r: LoadResult) {
  console.log(`  ${label.padEnd(34)} ${fmt(r.eventsPerSecond).padStart(9)} events/s   p50 ${r.p50.toFixed(1)} ms   p99 ${r.p99.toFixed(1)} ms   errors ${r.errors}`);
}

async function main() {
  console.log(`tokentally benchmark (${args.quick ? 'quick' : 'default'} sizes) on Node ${process.version}\n`);
  const ceiling = await measureCeiling(toRecords(makeEvents(size.ceilingEvents)));
  console.log(`(a) in-process ceiling, 1,000-row transactions: ${fmt(ceiling)} events/s`);

  const dir = mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
  const server = runCli(['serve'], { DATABASE_URL: join(dir, 'bench.db'), COLLECTOR_PORT: '0', REPORTING_PORT: '0' });
  try {
    const { collector } = await waitForUrls(server);
    console.log('(b) end-to-end durable-ack ingest over HTTP (server in its own process):');
    const load = (batch: number, clients = size.clients) => runLoad({ url: collector, path: '/v1/usage', batch, clients, seconds: size.seconds });
    const b100 = await load(100);
    line(`100-event batches, ${size.clients} clients`, b100);
    const b1000 = await load(1000);
    line(`1,000-event batches, ${size.clients} clients`, b1000);
    const best = Math.max(b100.eventsPerSecond, b1000.eventsPerSecond);
    console.log(`(c) end-to-end / ceiling: ${(best / ceiling * 100).toFixed(0)} %   (target ≥ 60 %: ${verdict(best >= 0.6 * ceiling)})`);
    const baseline = await runLoad({ url: collector, path: '/api/usage', batch: 1, clients: 1, seconds: size.seconds, single: true });
    line('(d) seed-style: one event per request', baseline);
    console.log(`    ours / seed-style: ${(best / baseline.eventsPerSecond).toFixed(1)}×   (target ≥ 20×: ${verdict(best >= 20 * baseline.eventsPerSecond)})`);

    // (e) OTLP/HTTP protobuf ingest (bench/otlp.ts): 100 GenAI spans per request.
    line(`(e) OTLP protobuf, 100-span requests`, await runOtlpLoad({ url: collector, spans: 100, clients: size.clients, seconds: size.seconds }));
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

(args.postgres ? runPostgresBench(args.quick) : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
