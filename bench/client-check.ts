/**
 * Whether the load generator limits a load: the mixed trace load of (i) driven from this process
 * while it holds what the benchmark process held when it drove the loads itself (the in-process
 * ceiling's events, alive until the run ended), and from a fresh client process as the benchmark
 * drives every load now, in alternating rounds, each on a fresh service. Prints spans/s, the
 * client's CPU time per request and the share of its time its event loop was busy, and the
 * service's CPU time per span (docs/benchmarks.md, "Load generator, session 9").
 * `npm run build && node dist/bench/client-check.js [--rounds 3] [--seconds 8] [--connections 8] [--hold 200000]`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { buildClient, measureClient, prepare, startClient, type ClientLoad, type ClientResult } from './client.js';
import { makeRecords } from './events.js';
import { waitForIdle } from './load.js';
import { cpuSeconds, runCli, stop, waitForListening } from './server.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '8' },
    /** Events held in this process meanwhile: the default ceiling's 200,000 as the benchmark built them. */
    hold: { type: 'string', default: '200000' },
  },
});
const SPANS = 500;

type Driver = 'in this process' | 'fresh client process';

async function inThisProcess(load: ClientLoad): Promise<ClientResult> {
  const { built: run, buildSeconds } = buildClient(() => prepare({ ...load, first: 0 }));
  const { result, client } = await measureClient(run);
  return { ...result, client: { ...client, buildSeconds } };
}

async function round(dir: string, name: string, driver: Driver) {
  const server = runCli(['serve'], { DATABASE_URL: join(dir, `${name}.db`), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  try {
    const { collector } = await waitForListening(server, ['collector', 'reporting']);
    const load: ClientLoad = { kind: 'mixed', options: { url: collector, spans: SPANS, connections: Number(args.connections), seconds: Number(args.seconds) } };
    const client = driver === 'fresh client process' ? await startClient(load) : undefined;
    const before = cpuSeconds(server);
    const result = client ? await client.go() : await inThisProcess(load);
    await waitForIdle(collector, 120_000);
    return { result, serviceCpuSeconds: cpuSeconds(server) - before };
  } finally {
    await stop(server);
  }
}

const held = makeRecords(0, Number(args.hold), createPricer(loadPriceTable({})));
const dir = mkdtempSync(join(tmpdir(), 'tokentally-client-check-'));
try {
  console.log(`mixed trace load, ${SPANS} spans per request, ${args.connections} connections, ${args.seconds} s; this process holds ${held.length} events ` +
    `(heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB)`);
  for (let r = 1; r <= Number(args.rounds); r++) {
    // Which driver goes first alternates, so neither always follows the other.
    const drivers: Driver[] = r % 2 ? ['in this process', 'fresh client process'] : ['fresh client process', 'in this process'];
    for (const driver of drivers) {
      const { result, serviceCpuSeconds } = await round(dir, `r${r}-${driver === 'in this process' ? 'in' : 'child'}`, driver);
      const c = result.client;
      console.log(`  round ${r} ${driver.padEnd(20)} ${Math.round(result.eventsPerSecond).toLocaleString('en-US').padStart(8)} spans/s   ` +
        `p50 ${result.p50.toFixed(0)} ms   failed ${result.failures}   client ${((c.cpuSeconds * 1e3) / Math.max(1, result.requests)).toFixed(2)} ms CPU a request, ` +
        `loop busy ${Math.round(c.loopBusy * 100)} %, ${c.majorGcs} full GCs (${(c.gcSeconds * 1000).toFixed(0)} ms of GC)   service ${((serviceCpuSeconds * 1e6) / Math.max(1, result.requests * SPANS)).toFixed(2)} µs CPU a span   ` +
        `load average ${loadavg()[0]!.toFixed(1)}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
