import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { measureBudgetCheck } from './budgets.js';
import { measureCeiling, measureSeedSchemaCeiling, type Ceiling } from './ceiling.js';
import { growDataset } from './dataset.js';
import { fmt, loadLine, percent, reportLine, target } from './format.js';
import { makeRecords, RARE_AGENT } from './events.js';
import { inFreshClient, startClient, type ClientLoad, type ClientResult } from './client.js';
import { eventCounts, waitForIdle, type LoadOptions } from './load.js';
import { MIXED_TRACE_SPANS } from './otlp.js';
import { runPostgresBench } from './postgres.js';
import { summariseProfiles } from './profile.js';
import { last30DaysEvents, last30DaysReport, measureReport, oneDayByHourReport } from './reports.js';
import { cpuSeconds, peakRssMB, runCli, runScript, stop, waitForListening, waitForUrls, type Running } from './server.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, profile: { type: 'boolean', default: false }, postgres: { type: 'boolean', default: false },
    /** Only the forwarding figures (j). */
    forward: { type: 'boolean', default: false },
    /** The load --profile runs: one of PROFILED_LOADS. */
    load: { type: 'string', default: 'usage' },
  },
});
const size = args.quick
  ? { ceilingEvents: 20_000, seconds: 2, connections: 4, datasets: [20_000, 100_000], rollupBudget: 1, rawBudget: 1, logBatches: [100], rounds: 1 }
  : { ceilingEvents: 200_000, seconds: 10, connections: 8, datasets: [1_000_000, 5_000_000], rollupBudget: 5, rawBudget: 15, logBatches: [100, 1000], rounds: 3 };
/** How long and over how many connections each load runs. */
const LOADS = { connections: size.connections, seconds: size.seconds };
/** Spans per request of the mixed trace load: about what one batch of an OTel SDK's span processor holds (512). */
const MIXED_SPANS = 500;
/** The loads of the run, each as LOADS runs it: `POST /v1/usage` batches, OTLP logs, mixed traces. */
const usageLoad = (collector: string, batch: number, shape: Pick<LoadOptions, 'ids' | 'times'> = {}): ClientLoad =>
  ({ kind: 'usage', options: { url: `${collector}/v1/usage`, batch, ...LOADS, ...shape } });
const logsLoad = (url: string, transport: 'http' | 'grpc', batch: number): ClientLoad => ({ kind: 'logs', options: { url, transport, batch, ...LOADS } });
const otlpLoad = (collector: string): ClientLoad => ({ kind: 'otlp', options: { url: collector, spans: 100, ...LOADS } });
const mixedLoad = (collector: string): ClientLoad => ({ kind: 'mixed', options: { url: collector, spans: MIXED_SPANS, ...LOADS } });

const TARGETS = {
  ofSeedCeiling: 0.6, halfRateP99Ms: { 100: 25, 1000: 50 }, rollupP50Ms: 20, rawP50Ms: 2000, eventsP50Ms: 100, hourP50Ms: 500,
  rssMB: 250, logsOfUsage: 0.8, mixedSpansPerSecond: 100_000, budgetCheckP99Ms: 5, forwardCost: 0.2,
};

/** The peak RSS of every service process the run started, in MB, by what it served: (g') takes the largest. */
const peaks: { what: string; mb: number }[] = [];
function notePeakRss(server: Running, what: string): number {
  const mb = peakRssMB(server);
  peaks.push({ what, mb });
  return mb;
}

/**
 * `tokentally verify` on a database a load wrote: the rollups equal the raw sums, and the file is
 * intact. A run whose load broke either stops here.
 */
async function verify(file: string): Promise<void> {
  const run = runCli(['verify'], { DATABASE_URL: file });
  if ((await run.exited) !== 0) throw new Error(`verify failed on ${file}:\n${run.output()}`);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tokentally-bench-'));
}

/**
 * Writes the kernel's dirty pages out before a load, so that the previous load's writeback does not
 * land on this one's fsyncs: the same load measured 40 % apart depending on what ran before it.
 */
function settleDisk(): void {
  execFileSync('sync');
}

/** `tokentally serve` on a fresh SQLite file `<name>.db` in `dir`, every port chosen by the system. */
function serve(dir: string, name: string, nodeFlags: string[] = [], env: Record<string, string> = {}) {
  return runCli(['serve'], { DATABASE_URL: join(dir, `${name}.db`), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0', ...env }, nodeFlags);
}

interface Urls {
  collector: string;
  grpc: string;
}

/**
 * A load from a fresh client process, started once the client has built its bodies, the collector
 * is idle and the disk settled.
 */
async function clientLoad(collector: string, load: ClientLoad): Promise<ClientResult> {
  const client = await startClient(load);
  try {
    await waitForIdle(collector);
    settleDisk();
  } catch (error) {
    client.cancel();
    throw error;
  }
  return client.go();
}

/** A load against its own fresh service, and what that service's collector then counted (accepted, duplicate, rejected). */
async function onFreshService(
  dir: string, name: string, load: (urls: Urls) => ClientLoad, nodeFlags: string[] = [], env: Record<string, string> = {},
): Promise<{ result: ClientResult; counts: Record<string, number>; peakRssMB: number; cpuSeconds: number }> {
  settleDisk();
  const server = serve(dir, name, nodeFlags, env);
  try {
    const { collector, 'OTLP/gRPC': grpc } = await waitForListening(server, ['collector', 'reporting', 'OTLP/gRPC']);
    const client = await startClient(load({ collector, grpc }));
    const cpuBefore = cpuSeconds(server);
    const result = await client.go();
    await waitForIdle(collector);
    return { result, counts: await eventCounts(collector), peakRssMB: notePeakRss(server, name), cpuSeconds: cpuSeconds(server) - cpuBefore };
  } finally {
    await stop(server);
    await verify(join(dir, `${name}.db`));
  }
}

const countsText = (c: Record<string, number>) => `${fmt(c.accepted ?? 0)} new, ${fmt(c.duplicate ?? 0)} duplicate, ${fmt(c.rejected ?? 0)} rejected`;

/**
 * (a)–(d) and (g): the ceilings in this process, then the service in its own process, loaded over
 * HTTP. (a') is measured again right after the 1,000-event batches, so (c) compares them with the
 * ceiling of the same minutes.
 */
async function ingest(dir: string): Promise<void> {
  const records = makeRecords(0, size.ceilingEvents, createPricer(loadPriceTable({})));
  const ceilings = { ours: await measureCeiling(records), seeds: await measureSeedSchemaCeiling(records) };
  const cpu = (c: Ceiling) => `${c.cpuMicros.toFixed(1)} µs of CPU per event`;
  console.log(`(a) in-process ceiling, our schema, better-sqlite3, 1,000-row transactions: ${fmt(ceilings.ours.eventsPerSecond)} events/s, ${cpu(ceilings.ours)}`);
  console.log(`(a') in-process ceiling, the seeds' schema, same events and durability: ${fmt(ceilings.seeds.eventsPerSecond)} events/s, ${cpu(ceilings.seeds)}`);

  const server = serve(dir, 'ingest');
  const { collector } = await waitForUrls(server);
  const load = (batch: number, connections = size.connections, rate?: number) =>
    clientLoad(collector, { kind: 'usage', options: { url: `${collector}/v1/usage`, batch, connections, seconds: size.seconds, rate } });
  const paced = async (batch: 100 | 1000, peak: ClientResult) => {
    const rate = peak.requests / size.seconds / 2;
    const result = await load(batch, size.connections, rate);
    const limit = TARGETS.halfRateP99Ms[batch];
    console.log(loadLine(`${fmt(batch)}-event batches, half that rate, evenly spaced, sent when due (${rate.toFixed(1)} req/s)`, result));
    console.log(`    ${target(result.p99 <= limit, `p99 ≤ ${limit} ms at half the peak rate`)}`);
  };
  let peakRss: number;
  let b1000: ClientResult;
  try {
    console.log(`(b) end-to-end durable-ack ingest, POST /v1/usage, ${size.connections} autocannon connections:`);
    const b100 = await load(100);
    console.log(loadLine('100-event batches', b100));
    b1000 = await load(1000);
    console.log(loadLine('1,000-event batches', b1000));
    const seedsAfter = await measureSeedSchemaCeiling(records);
    await paced(1000, b1000);
    await paced(100, b100);
    const seeds = (ceilings.seeds.eventsPerSecond + seedsAfter.eventsPerSecond) / 2;
    const ofSeeds = b1000.eventsPerSecond / seeds;
    console.log(`(c) 1,000-event batches end to end / the seeds' schema in-process (a'), measured before and after them (${fmt(ceilings.seeds.eventsPerSecond)} and ` +
      `${fmt(seedsAfter.eventsPerSecond)} events/s): ${percent(ofSeeds)} ${target(ofSeeds >= TARGETS.ofSeedCeiling, `≥ ${percent(TARGETS.ofSeedCeiling)}`)}`);
    console.log(`    / our own schema in-process (a): ${percent(b1000.eventsPerSecond / ceilings.ours.eventsPerSecond)}`);
    peakRss = notePeakRss(server, 'ingest (b)');
  } finally {
    await stop(server);
  }
  await verify(join(dir, 'ingest.db'));

  settleDisk();
  const seed = runScript(join(import.meta.dirname, 'seed-server.js'), [join(dir, 'seed.db')], {});
  try {
    const { 'seed-style': url } = await waitForListening(seed, ['seed-style']);
    const baseline = await inFreshClient({ kind: 'usage', options: { url: `${url}/api/usage`, batch: 1, ...LOADS } });
    console.log('(d) seed-style baseline: one event per request, one autocommit insert each (it measures the disk\'s fsync more than us):');
    console.log(loadLine('1 event per request', baseline));
    console.log(`    1,000-event batches / seed-style: ${(b1000.eventsPerSecond / baseline.eventsPerSecond).toFixed(1)}×`);
  } finally {
    await stop(seed);
  }

  console.log(`(g) peak RSS of the service process under ingest load: ${fmt(peakRss)} MB ${target(peakRss <= TARGETS.rssMB, `≤ ${TARGETS.rssMB} MB`)}`);
}

/** The result of the round with the median events/s (of an even number, the lower middle). */
function medianRound<T extends { result: ClientResult }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.result.eventsPerSecond - b.result.eventsPerSecond)[Math.floor((runs.length - 1) / 2)]!;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/**
 * (e), (h) and (i): OTLP and agents' telemetry. OTLP logs as Claude Code and Codex send them, over
 * HTTP protobuf and gRPC, against POST /v1/usage with the same batch size, and at 100 a request
 * GenAI trace spans (e) too; and a trace load that is mostly spans without usage. Each load runs on
 * a fresh service, so none inherits another's database. The loads a ratio compares run in rounds,
 * one of each in turn, and a ratio is the median of the rounds' ratios: one load's own figure varies
 * by ±10 % from minute to minute on this machine, a ratio of loads taken in the same minutes less.
 */
async function agentTelemetry(dir: string): Promise<void> {
  console.log(`(h) OTLP logs as Claude Code and Codex send them (claude_code.api_request, codex.sse_event response.completed; half each),`);
  console.log(`    against POST /v1/usage with the same batch size, ${size.connections} connections, each load on a fresh service, ${size.rounds} round${size.rounds > 1 ? 's' : ''} of each in turn;`);
  console.log(`    at 100 a request also (e) OTLP/HTTP protobuf traces, POST /v1/traces, 100 GenAI spans per request, pre-encoded, each request a new trace:`);
  console.log(`    Every load's calls are live: made within the 5 s before their request is sent. The logs' ids lead with that time`);
  console.log(`    (Claude Code's request ids, Codex's record ids), and the reference's share their start per request; the logs are also`);
  console.log(`    set against the same /v1/usage load with ids scattered (16 random hex digits first), printed beside the ratio to the`);
  console.log(`    reference, which is the one held to the target.`);
  for (const batch of size.logBatches) {
    const loads: { name: string; label: string; unit: string; load: (urls: Urls) => ClientLoad; ratio?: string; reference?: number[] }[] = [
      { name: `usage-${batch}`, label: 'POST /v1/usage (the reference)', unit: 'events', load: ({ collector }) => usageLoad(collector, batch, { times: 'live' }) },
      {
        name: `usage-scattered-${batch}`, label: 'POST /v1/usage, ids scattered', unit: 'events',
        load: ({ collector }) => usageLoad(collector, batch, { ids: 'scattered', times: 'live' }),
      },
      { name: `logs-http-${batch}`, label: 'POST /v1/logs, HTTP protobuf', unit: 'records', load: ({ collector }) => logsLoad(collector, 'http', batch), ratio: 'logs over HTTP', reference: [0, 1] },
      { name: `logs-grpc-${batch}`, label: 'LogsService/Export, gRPC', unit: 'records', load: ({ grpc }) => logsLoad(grpc, 'grpc', batch), ratio: 'logs over gRPC', reference: [0, 1] },
      ...(batch === 100
        ? [{ name: 'otlp', label: '(e) POST /v1/traces, 100 GenAI spans', unit: 'events', load: ({ collector }: Urls) => otlpLoad(collector), ratio: '(e) OTLP traces', reference: [0] }]
        : []),
    ];
    const runs = loads.map(() => [] as Awaited<ReturnType<typeof onFreshService>>[]);
    for (let round = 0; round < size.rounds; round++) {
      // Which load goes first turns with the rounds.
      for (let k = 0; k < loads.length; k++) {
        const i = (k + round) % loads.length;
        runs[i]!.push(await onFreshService(dir, `${loads[i]!.name}-r${round + 1}`, loads[i]!.load));
      }
    }
    console.log(`  ${fmt(batch)} usage records per request${size.rounds > 1 ? ', the median round of each' : ''}:`);
    loads.forEach((l, i) => {
      console.log(loadLine(l.label, medianRound(runs[i]!).result, l.unit));
      if (size.rounds > 1) console.log(`      rounds: ${runs[i]!.map((r) => fmt(r.result.eventsPerSecond)).join(', ')} ${l.unit}/s`);
    });
    loads.forEach((l, i) => {
      // The first reference named is the one held to the target; a second is printed beside it.
      l.reference?.forEach((ref, k) => {
        const ratios = runs[i]!.map((r, round) => r.result.eventsPerSecond / runs[ref]![round]!.result.eventsPerSecond);
        const ratio = median(ratios);
        const rounds = size.rounds > 1 ? ` (median of ${ratios.map(percent).join(', ')})` : '';
        const against = ref === 0 ? 'usage' : 'usage with ids scattered';
        const verdict = k === 0 ? ` ${target(ratio >= TARGETS.logsOfUsage, `≥ ${percent(TARGETS.logsOfUsage)}`)}` : '';
        console.log(`    ${l.ratio} / ${against}: ${percent(ratio)}${rounds}${verdict}`);
      });
    });
    console.log(`    stored: ${loads.map((l, i) => `${l.name.replace(`-${batch}`, '')} ${countsText(medianRound(runs[i]!).counts)}`).join('; ')}`);
  }

  console.log(`(i) mixed trace load, POST /v1/traces over HTTP protobuf, traces of ${MIXED_TRACE_SPANS} spans with 1 GenAI usage span each, the rest tool and HTTP spans:`);
  // In rounds, as (e) and (h): one 10 s run read 73,000 to 153,000 spans/s within minutes ("Mixed traces in rounds, session 22").
  const rounds: Awaited<ReturnType<typeof onFreshService>>[] = [];
  for (let round = 0; round < size.rounds; round++) rounds.push(await onFreshService(dir, `mixed-r${round + 1}`, ({ collector }) => mixedLoad(collector)));
  const mixed = medianRound(rounds);
  console.log(loadLine(`${MIXED_SPANS} spans per request${size.rounds > 1 ? ', the median round' : ''}`, mixed.result, 'spans'));
  if (size.rounds > 1) console.log(`      rounds: ${rounds.map((r) => fmt(r.result.eventsPerSecond)).join(', ')} spans/s`);
  const spans = mixed.result.eventsPerSecond;
  console.log(`    spans decoded: ${fmt(spans)}/s ${target(spans >= TARGETS.mixedSpansPerSecond, `≥ ${fmt(TARGETS.mixedSpansPerSecond)} spans/s`)}; usage events: ${fmt(spans / MIXED_TRACE_SPANS)}/s`);
  console.log(`    stored: ${countsText(mixed.counts)}`);
}

/**
 * (j): forwarding (docs/forwarding.md) on and off, the same mixed trace load on fresh services in
 * the same run: off; on, to an upstream on this machine that takes everything; on, with the upstream
 * down for the whole run (the outbox only grows, up to its bound).
 */
async function forwarding(dir: string): Promise<void> {
  console.log(`(j) forwarding, the mixed trace load of (i), ${MIXED_SPANS} spans per request, each on a fresh service:`);
  const run = (name: string, env: Record<string, string>) =>
    onFreshService(dir, name, ({ collector }) => mixedLoad(collector), [], env);
  const off = await run('forward-off', {});
  const sink = runScript(join(import.meta.dirname, 'forward.js'), [], {});
  let up, taken;
  try {
    const { upstream } = await waitForListening(sink, ['upstream']);
    up = await run('forward-up', { FORWARD_OTLP_ENDPOINT: upstream });
    taken = (await (await fetch(`${upstream}/count`)).json()) as { requests: number; bytes: number };
  } finally {
    await stop(sink);
  }
  // Nothing listens there: every export is refused at connect, for the whole run.
  const down = await run('forward-down', { FORWARD_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  console.log(loadLine('forwarding off', off.result, 'spans'));
  console.log(loadLine('forwarding on, upstream up (same machine)', up.result, 'spans'));
  console.log(loadLine('forwarding on, upstream down all along', down.result, 'spans'));
  for (const [label, r] of [['upstream up', up], ['upstream down', down]] as const) {
    const cost = 1 - r.result.eventsPerSecond / off.result.eventsPerSecond;
    console.log(`    cost with the ${label}: ${percent(cost)} of ingest ${target(cost <= TARGETS.forwardCost, `≤ ${percent(TARGETS.forwardCost)}`)}`);
  }
  // CPU time per span, which a loaded machine changes far less than spans/s: the service's own work.
  const cpu = (r: typeof off) => (r.cpuSeconds * 1e6) / (r.result.requests * MIXED_SPANS);
  console.log(`    service CPU per span (all threads, load and drain): off ${cpu(off).toFixed(1)} µs, upstream up ${cpu(up).toFixed(1)} µs (+${percent(cpu(up) / cpu(off) - 1)}), upstream down ${cpu(down).toFixed(1)} µs (+${percent(cpu(down) / cpu(off) - 1)})`);
  console.log(`    upstream took ${fmt(taken.requests)} exports, ${fmt(taken.bytes / 1e6)} MB (some still in the outbox when the load ended)`);
  console.log(`    peak RSS: off ${fmt(off.peakRssMB)} MB, upstream up ${fmt(up.peakRssMB)} MB, upstream down ${fmt(down.peakRssMB)} MB ${target(down.peakRssMB <= TARGETS.rssMB, `≤ ${TARGETS.rssMB} MB with the upstream down`)}`);
}

/** (f): reports over HTTP from a reporting process, on datasets grown in-process. */
async function reports(dir: string): Promise<void> {
  const file = join(dir, 'reports.db');
  let loaded = 0;
  console.log('(f) report latency, one client over HTTP:');
  for (const events of size.datasets) {
    const seconds = await growDataset(file, loaded, events);
    console.log(`  ${fmt(events)} events (grown from ${fmt(loaded)} in ${seconds.toFixed(0)} s, ${fmt((events - loaded) / seconds)} events/s):`);
    loaded = events;
    const verifyStarted = performance.now();
    await verify(file);
    console.log(`    verify: rollups equal the raw sums (${((performance.now() - verifyStarted) / 1000).toFixed(0)} s)`);
    const server = runCli(['reporting'], { DATABASE_URL: file, REPORTING_PORT: '0' });
    try {
      const { reporting } = await waitForListening(server, ['reporting']);
      const ask = async (label: string, path: string, limit: { p50Ms: number; text: string }, samples: { min: number; max: number; budget: number }) => {
        const r = await measureReport(reporting, path, { minSamples: samples.min, maxSamples: samples.max, budgetSeconds: samples.budget });
        console.log(reportLine(label, r) + ` ${target(r.p50 <= limit.p50Ms, `p50 ≤ ${limit.text}`)}`);
      };
      const quick = { min: 20, max: 500, budget: size.rollupBudget };
      const slow = { min: 3, max: 50, budget: size.rawBudget };
      await ask('30 days by model', last30DaysReport('model'), { p50Ms: TARGETS.rollupP50Ms, text: `${TARGETS.rollupP50Ms} ms` }, quick);
      await ask('30 days by project and day', last30DaysReport('project,day'), { p50Ms: TARGETS.rollupP50Ms, text: `${TARGETS.rollupP50Ms} ms` }, quick);
      await ask('30 days by run', last30DaysReport('run'), { p50Ms: TARGETS.rawP50Ms, text: `${TARGETS.rawP50Ms / 1000} s` }, slow);
      await ask(`/v1/events, 30 days, agent ${RARE_AGENT} (1 run in 10,000), first page`, last30DaysEvents(RARE_AGENT),
        { p50Ms: TARGETS.eventsP50Ms, text: `${TARGETS.eventsP50Ms} ms` }, quick);
      await ask('yesterday by hour, Europe/Paris', oneDayByHourReport('Europe/Paris'), { p50Ms: TARGETS.hourP50Ms, text: `${TARGETS.hourP50Ms} ms` }, slow);
      console.log(`    peak RSS of the reporting process: ${fmt(notePeakRss(server, `reporting at ${fmt(events)} events`))} MB`);
    } finally {
      await stop(server);
    }
    const check = await measureBudgetCheck(file, size.rollupBudget * 2);
    console.log(reportLine('GET /v1/budgets/check (collector, 5 budgets)', check) +
      ` ${target(check.p99 <= TARGETS.budgetCheckP99Ms, `p99 ≤ ${TARGETS.budgetCheckP99Ms} ms`)}; ${check.evaluations} evaluations meanwhile`);
    console.log(reportLine('GET /healthz in turn with it (the baseline)', check.healthz));
  }
}

/** What `--profile --load <name>` puts the service under. */
const PROFILED_LOADS: Record<string, { what: string; unit?: string; load: (urls: Urls) => ClientLoad }> = {
  usage: { what: 'POST /v1/usage, 1,000-event batches', load: ({ collector }) => usageLoad(collector, 1000) },
  'logs-http': {
    what: 'POST /v1/logs, 1,000 Claude Code and Codex records per request',
    unit: 'records',
    load: ({ collector }) => logsLoad(collector, 'http', 1000),
  },
  'usage-100': { what: 'POST /v1/usage, 100-event batches, times live', load: ({ collector }) => usageLoad(collector, 100, { times: 'live' }) },
  'usage-scattered-100': {
    what: 'POST /v1/usage, 100-event batches, ids scattered, times live',
    load: ({ collector }) => usageLoad(collector, 100, { ids: 'scattered', times: 'live' }),
  },
  'logs-http-100': {
    what: 'POST /v1/logs, 100 Claude Code and Codex records per request',
    unit: 'records',
    load: ({ collector }) => logsLoad(collector, 'http', 100),
  },
  traces: { what: 'POST /v1/traces, 100 GenAI spans per request', load: ({ collector }) => otlpLoad(collector) },
  'logs-grpc': {
    what: 'gRPC LogsService/Export, 1,000 Claude Code and Codex records per request',
    unit: 'records',
    load: ({ grpc }) => logsLoad(grpc, 'grpc', 1000),
  },
  'mixed-traces': {
    what: `POST /v1/traces, ${MIXED_SPANS} spans per request, 1 in ${MIXED_TRACE_SPANS} with usage`,
    unit: 'spans',
    load: ({ collector }) => mixedLoad(collector),
  },
};

/** --profile: the service under one of PROFILED_LOADS with --cpu-prof, summarised by pipeline stage. */
async function profile(dir: string): Promise<void> {
  const load = PROFILED_LOADS[args.load];
  if (!load) throw new Error(`--load must be one of ${Object.keys(PROFILED_LOADS).join(', ')}`);
  const profiles = join(dir, 'profiles');
  const { result } = await onFreshService(dir, 'profile', load.load, ['--cpu-prof', `--cpu-prof-dir=${profiles}`]);
  console.log(loadLine(load.what, result, load.unit));
  console.log(`CPU profile of the service under ${load.what} (busy time by stage):`);
  const { stages, threads } = summariseProfiles(profiles);
  console.log(`    ${'stage'.padEnd(28)} ${'all threads'.padStart(18)}  ${'main thread'.padStart(11)}`);
  for (const s of stages) console.log(`    ${s.stage.padEnd(28)} ${fmt(s.ms).padStart(7)} ms  ${(s.share * 100).toFixed(1).padStart(5)} %  ${fmt(s.mainMs).padStart(8)} ms`);
  const busy = threads.map((t) => `${t.thread === 0 ? 'main' : `thread ${t.thread}`} ${fmt(t.busyMs)} of ${fmt(t.profiledMs)} ms`);
  console.log(`  busy: ${busy.join(', ')}`);
}

async function main() {
  const started = performance.now();
  console.log(`tokentally benchmark, ${args.quick ? 'quick' : 'default'} sizes: Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}\n`);
  const dir = tempDir();
  try {
    if (args.profile) return await profile(dir);
    if (args.forward) return await forwarding(dir);
    await ingest(dir);
    await agentTelemetry(dir);
    await forwarding(dir);
    await reports(dir);
    const peak = peaks.reduce((a, b) => (b.mb > a.mb ? b : a));
    console.log(`(g') peak RSS of any service process over the whole run: ${fmt(peak.mb)} MB, ${peak.what} ${target(peak.mb <= TARGETS.rssMB, `≤ ${TARGETS.rssMB} MB`)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    console.log(`\nfinished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

(args.postgres ? runPostgresBench(args.quick) : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
