import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { measureCeiling } from './ceiling.js';
import { growDataset } from './dataset.js';
import { makeRecords } from './events.js';
import { runLoad, waitForIdle, type LoadResult } from './load.js';
import { runOtlpLoad } from './otlp.js';
import { runPostgresBench } from './postgres.js';
import { summariseProfiles } from './profile.js';
import { last30DaysReport, measureReport, type ReportLatency } from './reports.js';
import { peakRssMB, runCli, runScript, stop, waitForListening, waitForUrls } from './server.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, profile: { type: 'boolean', default: false }, postgres: { type: 'boolean', default: false },
  },
});
const size = args.quick
  ? { ceilingEvents: 20_000, seconds: 2, connections: 4, datasets: [20_000, 100_000], rollupBudget: 1, rawBudget: 1 }
  : { ceilingEvents: 200_000, seconds: 10, connections: 8, datasets: [1_000_000, 5_000_000], rollupBudget: 5, rawBudget: 15 };

const TARGETS = { ofCeiling: 0.6, overSeed: 20, halfRateP99Ms: 50, rollupP50Ms: 20, rawP50Ms: 2000, rssMB: 250 };

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n < 10 ? n.toFixed(1) : fmt(n)} ms`;
const target = (ok: boolean, text: string) => `(target ${text}: ${ok ? 'met' : 'falls short'})`;
const loadLine = (label: string, r: LoadResult) =>
  `    ${label.padEnd(58)} ${fmt(r.eventsPerSecond).padStart(8)} events/s   p50 ${ms(r.p50)}   p99 ${ms(r.p99)}   failed ${r.failures}`;
const reportLine = (label: string, r: ReportLatency) =>
  `    ${label.padEnd(58)} p50 ${ms(r.p50)}   p99 ${ms(r.p99)}   (${r.samples} requests, source ${r.source})`;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
}

/** (b)–(e) and (g): the service in its own process, loaded over HTTP. */
async function ingest(ceiling: number, dir: string): Promise<void> {
  const server = runCli(['serve'], { DATABASE_URL: join(dir, 'ingest.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  const { collector } = await waitForUrls(server);
  const load = async (batch: number, connections = size.connections, rate?: number) => {
    await waitForIdle(collector);
    return runLoad({ url: `${collector}/v1/usage`, batch, connections, seconds: size.seconds, rate });
  };
  let peakRss: number;
  let best: number;
  try {
    console.log(`(b) end-to-end durable-ack ingest, POST /v1/usage, ${size.connections} autocannon connections:`);
    const b100 = await load(100);
    console.log(loadLine('100-event batches', b100));
    const b1000 = await load(1000);
    console.log(loadLine('1,000-event batches', b1000));
    const halfRate = b1000.requests / size.seconds / 2;
    const paced = await load(1000, 1, halfRate);
    console.log(loadLine(`1,000-event batches, half that rate, evenly spaced (${halfRate.toFixed(1)} req/s)`, paced));
    console.log(`    ${target(paced.p99 <= TARGETS.halfRateP99Ms, `p99 ≤ ${TARGETS.halfRateP99Ms} ms at half the peak rate`)}`);
    best = Math.max(b100.eventsPerSecond, b1000.eventsPerSecond);
    console.log(`(c) end-to-end / ceiling: ${fmt((best / ceiling) * 100)} % ${target(best >= TARGETS.ofCeiling * ceiling, '≥ 60 %')}`);
    peakRss = peakRssMB(server);
  } finally {
    await stop(server);
  }

  const seed = runScript(join(import.meta.dirname, 'seed-server.js'), [join(dir, 'seed.db')], {});
  try {
    const { 'seed-style': url } = await waitForListening(seed, ['seed-style']);
    const baseline = await runLoad({ url: `${url}/api/usage`, batch: 1, connections: size.connections, seconds: size.seconds });
    console.log('(d) seed-style baseline: one event per request, one autocommit insert each:');
    console.log(loadLine('1 event per request', baseline));
    const ratio = best / baseline.eventsPerSecond;
    console.log(`    ours / seed-style: ${ratio.toFixed(1)}× ${target(ratio >= TARGETS.overSeed, `≥ ${TARGETS.overSeed}×`)}`);
  } finally {
    await stop(seed);
  }

  const otlpServer = runCli(['serve'], { DATABASE_URL: join(dir, 'otlp.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  try {
    const { collector: otlpUrl } = await waitForUrls(otlpServer);
    console.log('(e) OTLP/HTTP protobuf ingest, POST /v1/traces, pre-encoded requests with fresh span ids:');
    console.log(loadLine('100 GenAI spans per request', await runOtlpLoad({ url: otlpUrl, spans: 100, connections: size.connections, seconds: size.seconds })));
  } finally {
    await stop(otlpServer);
  }
  console.log(`(g) peak RSS of the service process under ingest load: ${fmt(peakRss)} MB ${target(peakRss <= TARGETS.rssMB, `≤ ${TARGETS.rssMB} MB`)}`);
}

/** (f): reports over HTTP from a reporting process, on datasets grown in-process. */
async function reports(dir: string): Promise<void> {
  const file = join(dir, 'reports.db');
  let loaded = 0;
  console.log('(f) report latency, 30 days, one client over HTTP (GET /v1/reports/usage):');
  for (const events of size.datasets) {
    const seconds = await growDataset(file, loaded, events);
    console.log(`  ${fmt(events)} events (grown from ${fmt(loaded)} in ${seconds.toFixed(0)} s, ${fmt((events - loaded) / seconds)} events/s):`);
    loaded = events;
    const server = runCli(['reporting'], { DATABASE_URL: file, REPORTING_PORT: '0' });
    try {
      const { reporting } = await waitForListening(server, ['reporting']);
      const rollup = await measureReport(reporting, last30DaysReport('model'), { minSamples: 20, maxSamples: 500, budgetSeconds: size.rollupBudget });
      console.log(reportLine('grouped by model', rollup) + ` ${target(rollup.p50 <= TARGETS.rollupP50Ms, `p50 ≤ ${TARGETS.rollupP50Ms} ms`)}`);
      const raw = await measureReport(reporting, last30DaysReport('run'), { minSamples: 3, maxSamples: 50, budgetSeconds: size.rawBudget });
      console.log(reportLine('grouped by run', raw) + ` ${target(raw.p50 <= TARGETS.rawP50Ms, `p50 ≤ ${TARGETS.rawP50Ms / 1000} s`)}`);
      console.log(`    peak RSS of the reporting process: ${fmt(peakRssMB(server))} MB`);
    } finally {
      await stop(server);
    }
  }
}

/** --profile: the service under 1,000-event batches with --cpu-prof, summarised by pipeline stage. */
async function profile(dir: string): Promise<void> {
  const profiles = join(dir, 'profiles');
  const server = runCli(['serve'], { DATABASE_URL: join(dir, 'profile.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' }, [
    '--cpu-prof', `--cpu-prof-dir=${profiles}`,
  ]);
  try {
    const { collector } = await waitForUrls(server);
    await runLoad({ url: `${collector}/v1/usage`, batch: 1000, connections: size.connections, seconds: size.seconds });
  } finally {
    await stop(server);
  }
  console.log('CPU profile of the service under 1,000-event batches (busy time by stage):');
  for (const s of summariseProfiles(profiles)) console.log(`    ${s.stage.padEnd(28)} ${fmt(s.ms).padStart(7)} ms  ${(s.share * 100).toFixed(1).padStart(5)} %`);
}

async function main() {
  const started = performance.now();
  console.log(`tokentally benchmark, ${args.quick ? 'quick' : 'default'} sizes: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}\n`);
  const dir = tempDir();
  try {
    if (args.profile) return await profile(dir);
    const ceiling = await measureCeiling(makeRecords(0, size.ceilingEvents, createPricer(loadPriceTable({}))));
    console.log(`(a) in-process ceiling, better-sqlite3, 1,000-row transactions: ${fmt(ceiling)} events/s`);
    await ingest(ceiling, dir);
    await reports(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    console.log(`\nfinished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

(args.postgres ? runPostgresBench(args.quick) : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
