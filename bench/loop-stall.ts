import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { startService } from '../service/server.js';
import { growDataset } from './dataset.js';

/**
 * How long each reporting request holds the event loop of the process serving it, over a SQLite
 * database of many projects (issue 17: no request may hold it for more than ~50 ms). Builds the
 * database once at `--db` (events spread over the current UTC month, `--projects` distinct project
 * ids), then serves the reporting app in this process and asks each request (GETs, and the Grafana
 * datasource's POSTs) `--runs` times: the longest event-loop delay seen while it ran (perf_hooks,
 * 1 ms resolution), the CPU time of the main thread meanwhile (/proc, 10 ms ticks; unlike the
 * delay, it does not grow when other processes take the cores), and its time. The requests are
 * sent, and the answers read, by a client process of its own, so that reading a 15 MB answer is not
 * counted as the server's.
 * Run: `npm run build && node dist/bench/loop-stall.js --db /tmp/stall.db`.
 */
const { values: args } = parseArgs({
  options: {
    db: { type: 'string', default: '/tmp/tokentally-stall.db' },
    events: { type: 'string', default: '1000000' },
    projects: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    /** Only the requests whose name (the path; for Grafana's POSTs, the path and what they ask) contains this. */
    only: { type: 'string', default: '' },
  },
});

/** Events over the current UTC month so far, `projects` project ids taking turns. */
async function build(file: string, events: number, projects: number): Promise<void> {
  const now = Date.now();
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  await growDataset(file, 0, events, (record, n) => {
    record.project = `project-${(n * 7919) % projects}`;
    record.ts = monthStart + ((n * 104_729) % (now - monthStart));
  });
}

const file = args.db!;
if (!existsSync(file)) {
  const started = performance.now();
  await build(file, Number(args.events), Number(args.projects));
  console.log(`built ${file} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

const service = await startService(loadConfig({ DATABASE_URL: file, REPORTING_PORT: '0' }), { collector: false, reporting: true });
const base = service.reportingUrl!;
const month = new Date().toISOString().slice(0, 7);
const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
const PATHS = [
  '/v1/projects',
  '/v1/projects?limit=1000',
  '/v1/projects?q=project-1234',
  '/v1/stats/current-month?limit=0',
  '/v1/stats/current-month',
  '/v1/stats/current-month?limit=1000',
  '/v1/stats/current-month?tz=Europe/Paris&limit=0',
  `/v1/reports/usage?from=${month}-01`,
  `/v1/reports/usage?from=${month}-01&group_by=project`,
  `/v1/reports/usage?from=${month}-01&group_by=project&limit=10000`,
  `/v1/reports/usage?from=${month}-01&group_by=project&limit=10000&format=csv`,
  `/v1/reports/usage?from=${month}-01&group_by=agent&limit=5`,
  `/v1/reports/usage?from=${month}-01&group_by=agent,model&limit=1000`,
  `/v1/reports/usage?from=${month}-01&group_by=run&limit=100`,
  `/v1/reports/usage?from=${month}-01&group_by=user`,
  `/v1/reports/usage?from=${month}-01&group_by=day&tz=Europe/Paris`,
  `/v1/reports/timeseries?from=${month}-01&interval=day&group_by=project&limit=8`,
  `/v1/reports/timeseries?from=${month}-01&interval=hour`,
  `/v1/reports/timeseries?from=${twoDaysAgo}&to=${tomorrow}&interval=hour&group_by=project&limit=1000`,
  `/v1/reports/timeseries?from=${month}-01&interval=day&group_by=project,agent&limit=1000`,
  `/v1/reports/timeseries?from=${month}-01&interval=day&group_by=project,user&limit=1000`,
  `/v1/reports/timeseries?from=${twoDaysAgo}&to=${tomorrow}&interval=hour&group_by=project,user&limit=1000`,
  `/v1/events?limit=1000`,
  `/v1/events?limit=1000&model=o3`,
  `/api/usage?group_by=agent`,
  '/',
];

/** Grafana's POSTs, as the plugin sends them (a panel 1,000 points wide), named for the table. */
const monthRange = { from: `${month}-01T00:00:00Z`, to: new Date(Date.now() + 3_600_000).toISOString() };
const grafana = (name: string, body: Record<string, unknown>) => ({ name: `/grafana/${name}`, path: `/grafana/${name.split(' ')[0]}`, body });
const panel = (payload: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ range: monthRange, intervalMs: 3_600_000, maxDataPoints: 1000, targets: [{ refId: 'A', target: 'cost_usd', payload }], ...extra });
const POSTS = [
  grafana('query cost_usd by project, hours', panel({ group_by: ['project'] })),
  grafana('query cost_usd by project, model, hours', panel({ group_by: ['project', 'model'] })),
  grafana('query cost_usd by run, hours', panel({ group_by: ['run'] })),
  grafana('query table by project', panel({ group_by: ['project'], format: 'table' })),
  grafana('query ad hoc project =~ project-1.*', panel({}, { filters: [{ key: 'project', operator: '=~', value: 'project-1.*' }] })),
  grafana('tag-values project', { key: 'project', range: monthRange }),
];

/** CPU time of this process's main thread so far, in ms (Linux: the run time of its task, in ns). */
function mainThreadCpuMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/**
 * The longest hold of the event loop in CPU time of the main thread: a timer every millisecond
 * notes the thread's CPU time, and the most it grew between two firings is a hold's own work
 * (what the delay monitor shows too, less the time other processes took the core meanwhile).
 */
let lastCpu = mainThreadCpuMs();
let holdCpu = 0;
const probe = setInterval(() => {
  const cpu = mainThreadCpuMs();
  holdCpu = Math.max(holdCpu, cpu - lastCpu);
  lastCpu = cpu;
}, 1);

/** Reads requests, one a line (`{url, body?}`: a GET, or a POST of a JSON body), and answers each with its status and size, once read. */
const CLIENT = `
  const lines = require('node:readline').createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const { url, body } = JSON.parse(line);
    const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const size = (await res.arrayBuffer()).byteLength;
    process.stdout.write(res.status + ' ' + size + '\\n');
  });
`;
const client = spawn(process.execPath, ['-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
const answers = createInterface({ input: client.stdout })[Symbol.asyncIterator]();
/** The status and size of the answer to GET `url` (POST `body`), asked by the client process. */
async function ask(url: string, body?: unknown): Promise<{ status: number; size: number }> {
  client.stdin.write(`${JSON.stringify({ url, body })}\n`);
  const [status, size] = ((await answers.next()).value as string).split(' ').map(Number);
  return { status: status!, size: size! };
}

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const runs = Number(args.runs);
console.log(`${'request'.padEnd(80)} ${'max stall'.padStart(10)} ${'its CPU'.padStart(10)} ${'main CPU'.padStart(10)} ${'time'.padStart(10)} ${'bytes'.padStart(10)}`);
const requests = [...PATHS.map((path) => ({ name: path, path, body: undefined as unknown })), ...POSTS];
for (const { name, path, body } of requests.filter((r) => r.name.includes(args.only!))) {
  let stall = 0;
  let stallCpu = 0;
  let time = 0;
  let cpu = 0;
  let size = 0;
  for (let i = 0; i < runs; i++) {
    delay.reset();
    lastCpu = mainThreadCpuMs();
    holdCpu = 0;
    const started = performance.now();
    const cpuBefore = mainThreadCpuMs();
    const res = await ask(base + path, body);
    if (res.status !== 200) throw new Error(`${name}: ${res.status}`);
    size = res.size;
    cpu = Math.max(cpu, mainThreadCpuMs() - cpuBefore);
    time = Math.max(time, performance.now() - started);
    stall = Math.max(stall, delay.max / 1e6);
    stallCpu = Math.max(stallCpu, holdCpu);
  }
  console.log(`${name.padEnd(80)} ${stall.toFixed(0).padStart(7)} ms ${stallCpu.toFixed(0).padStart(7)} ms ${cpu.toFixed(0).padStart(7)} ms ${time.toFixed(0).padStart(7)} ms ${String(size).padStart(10)}`);
}
clearInterval(probe);
client.stdin.end();
await once(client, 'exit');
await service.stop();
