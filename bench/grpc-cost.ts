import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { logsBodies, paddingBody, runLogsLoad } from './agent-logs.js';
import { waitForIdle } from './load.js';
import { cpuSeconds, runCli, stop, waitForListening } from './server.js';

/**
 * The gRPC front's cost per record against the HTTP front's, for the same OTLP logs bodies, on one
 * service: rounds of `POST /v1/logs` and `LogsService/Export` in turn (which goes first alternates,
 * as the database grows), each charged the service's CPU time (all threads, load and drain) and the
 * load generator's own. CPU per record, unlike records/s, barely moves when other work shares the
 * machine. `npm run build && node dist/bench/grpc-cost.js [--batch 100] [--rounds 6] [--seconds 5] [--connections 8] [--padding <bytes>]`
 */

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '8' },
    /** Requests of this many bytes that carry no records (one unknown field): the fronts' own cost per request. */
    padding: { type: 'string' },
  },
});
const batch = args.padding === undefined ? Number(args.batch) : 1;

const transports = ['http', 'grpc'] as const;
type Transport = (typeof transports)[number];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tokentally-grpc-cost-'));
  const server = runCli(['serve'], { DATABASE_URL: join(dir, 'cost.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0', REPORTING_PORT: '0' });
  const perRecord: Record<Transport, { service: number[]; client: number[]; rate: number[] }> = {
    http: { service: [], client: [], rate: [] },
    grpc: { service: [], client: [], rate: [] },
  };
  try {
    const { collector, 'OTLP/gRPC': grpc } = await waitForListening(server, ['collector', 'OTLP/gRPC']);
    const padding = args.padding === undefined ? undefined : paddingBody(Number(args.padding));
    const logs = padding ? undefined : logsBodies(batch);
    const body = (n: number) => padding ?? logs!(n);
    const send = (transport: Transport, seconds: number) =>
      runLogsLoad({ url: transport === 'http' ? collector : grpc, transport, batch, connections: Number(args.connections), seconds }, body);
    // Not counted: the first calls compile the code of each path.
    for (const transport of transports) await send(transport, 2);
    for (let round = 0; round < Number(args.rounds); round++) {
      for (const transport of round % 2 === 0 ? transports : [...transports].reverse()) {
        await waitForIdle(collector);
        const service = cpuSeconds(server);
        const client = process.cpuUsage();
        const result = await send(transport, Number(args.seconds));
        const clientUsage = process.cpuUsage(client);
        await waitForIdle(collector);
        const records = result.requests * batch;
        perRecord[transport].service.push(((cpuSeconds(server) - service) * 1e6) / records);
        perRecord[transport].client.push((clientUsage.user + clientUsage.system) / records);
        perRecord[transport].rate.push(result.eventsPerSecond);
        console.log(`round ${round + 1} ${transport.padEnd(4)}: ${Math.round(result.eventsPerSecond)} records/s, ${result.failures} failed;` +
          ` service ${perRecord[transport].service.at(-1)!.toFixed(1)} µs CPU/record, load generator ${perRecord[transport].client.at(-1)!.toFixed(1)} µs`);
      }
    }
  } finally {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
  const { http, grpc } = perRecord;
  const what = args.padding === undefined ? `${batch} records a request` : `${args.padding}-byte requests without records (a record = a request)`;
  console.log(`${what}, medians of ${args.rounds} rounds:`);
  for (const t of transports) {
    const p = perRecord[t];
    console.log(`  ${t.padEnd(4)}: service ${median(p.service).toFixed(1)} µs CPU/record, load generator ${median(p.client).toFixed(1)} µs, ${Math.round(median(p.rate))} records/s`);
  }
  // Each round's two loads ran back to back: their ratio, unlike either figure, hardly depends on what else the machine did then.
  const ratio = (of: (p: typeof http, i: number) => number) => `${(median(http.rate.map((_, i) => of(grpc, i) / of(http, i))) * 100).toFixed(0)} %`;
  console.log(`  gRPC / HTTP, medians of the rounds' ratios: service CPU per record ${ratio((p, i) => p.service[i]!)},` +
    ` service and load generator ${ratio((p, i) => p.service[i]! + p.client[i]!)}, records/s ${ratio((p, i) => p.rate[i]!)}`);
}

await main();
