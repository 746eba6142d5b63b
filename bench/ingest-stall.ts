import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../src/config.js';
import { startService } from '../service/server.js';
import { makeEvents } from './events.js';
import { largestBatch } from './large-batch.js';

/**
 * How long one `POST /v1/usage` holds the event loop of the collector serving it (issue 17: no
 * request may hold it for more than ~50 ms). The service (collector only, a fresh SQLite file) runs
 * in this process; a timer every millisecond notes the main thread's CPU time (/proc schedstat), and
 * the most it grew between two firings is the request's longest hold, whatever else takes the
 * cores meanwhile. Each body is sent gzipped by a client process of its own, every run with new ids,
 * so each is stored in full. The largest batch (`max`) is the most the default limits take:
 * MAX_EVENTS_PER_REQUEST events of long fields and attributes, just under MAX_DECODED_BODY_BYTES.
 *
 *   npm run build && node --max-old-space-size=1024 --max-semi-space-size=8 --no-memory-reducer dist/bench/ingest-stall.js [--sizes 1000,10000,max] [--runs 3]
 *
 * With `--cpu-prof` before the script the main thread's profile shows what the holds are made of.
 */
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,max' },
    runs: { type: 'string', default: '3' },
    /** Also list every hold of at least this many ms, in order, for each request... */
    holds: { type: 'string', default: '' },
    /** ...and write their times to this file (JSON, [start, end] in µs of the monotonic clock, as a --cpu-prof profile's), to find them in a profile. */
    'hold-times': { type: 'string', default: '' },
  },
});

const config = loadConfig({});

/** The gzipped body of a batch of `size` (a count, or `max`), with ids of its own. */
function body(size: string, prefix: string): Buffer {
  const events = size === 'max' ? largestBatch(prefix) : makeEvents(0, Number(size), prefix);
  const json = JSON.stringify({ events });
  const gzipped = gzipSync(json);
  if (json.length > config.MAX_DECODED_BODY_BYTES || gzipped.length > config.MAX_BODY_BYTES) throw new Error(`the ${size} body is over the limits: ${json.length} bytes, ${gzipped.length} gzipped`);
  return gzipped;
}

const sizes = args.sizes!.split(',');
const runs = Number(args.runs);
const dir = mkdtempSync(join(tmpdir(), 'tokentally-ingest-stall-'));
// Every body is made before anything is measured: making it is not the server's work.
const bodies = sizes.map((size, s) => Array.from({ length: runs }, (_, run) => {
  const file = join(dir, `${s}-${size}-${run}.json.gz`);
  writeFileSync(file, body(size, `stall-${s}-${run}`));
  return file;
}));

const service = await startService(loadConfig({ DATABASE_URL: join(dir, 'ingest.db'), COLLECTOR_PORT: '0', GRPC_PORT: '0' }), { collector: true, reporting: false });
const url = `${service.collectorUrl!}/v1/usage`;

/** CPU time of this process's main thread so far, in ms (Linux: the run time of its task, in ns). */
function mainThreadCpuMs(): number {
  return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** The main thread's CPU time between each two firings of a 1 ms timer, while a request runs. */
let lastCpu = mainThreadCpuMs();
let lastFiring = process.hrtime.bigint();
let holds: number[] = [];
const holdTimes: [start: number, end: number, cpuMs: number][] = [];
const probe = setInterval(() => {
  const cpu = mainThreadCpuMs();
  const now = process.hrtime.bigint();
  holds.push(cpu - lastCpu);
  if (args.holds && cpu - lastCpu >= Number(args.holds)) holdTimes.push([Number(lastFiring / 1000n), Number(now / 1000n), cpu - lastCpu]);
  lastCpu = cpu;
  lastFiring = now;
}, 1);

/** Reads `url file` lines, posts each file gzipped, and answers with the status and the answer's body. */
const CLIENT = `
  const lines = require('node:readline').createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const [url, file] = line.split(' ');
    const body = require('node:fs').readFileSync(file);
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
    process.stdout.write(res.status + ' ' + (await res.text()).slice(0, 300) + '\\n');
  });
`;
const client = spawn(process.execPath, ['-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
const answers = createInterface({ input: client.stdout })[Symbol.asyncIterator]();

async function post(file: string): Promise<{ status: number; answer: string }> {
  client.stdin.write(`${url} ${file}\n`);
  const line = (await answers.next()).value as string;
  const space = line.indexOf(' ');
  return { status: Number(line.slice(0, space)), answer: line.slice(space + 1) };
}

console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`${'events'.padEnd(8)} ${'gzip bytes'.padStart(11)} ${'longest hold'.padStart(13)} ${'main CPU'.padStart(10)} ${'time'.padStart(9)}  holds of each run`);
for (const [s, size] of sizes.entries()) {
  const files = bodies[s]!;
  const longest: number[] = [];
  let cpu = 0;
  let time = 0;
  for (const file of files) {
    const cpuBefore = mainThreadCpuMs();
    const started = performance.now();
    lastCpu = cpuBefore;
    holds = [];
    const { status, answer } = await post(file);
    if (status !== 200 || !answer.startsWith('{"accepted":')) throw new Error(`${size}: ${status} ${answer}`);
    const { accepted, rejected } = JSON.parse(answer) as { accepted: number; rejected: number };
    if (rejected !== 0 || accepted !== (size === 'max' ? config.MAX_EVENTS_PER_REQUEST : Number(size))) throw new Error(`${size}: ${answer}`);
    // The hold the answer ended, if it ended one.
    holds.push(mainThreadCpuMs() - lastCpu);
    cpu = Math.max(cpu, mainThreadCpuMs() - cpuBefore);
    time = Math.max(time, performance.now() - started);
    longest.push(Math.max(...holds));
    if (args.holds) console.log(`  ${holds.filter((h) => h >= Number(args.holds)).map((h) => h.toFixed(0)).join(' ')}`);
  }
  const gz = readFileSync(files[0]!).length;
  console.log(`${size.padEnd(8)} ${String(gz).padStart(11)} ${Math.max(...longest).toFixed(0).padStart(10)} ms ${cpu.toFixed(0).padStart(7)} ms ${time.toFixed(0).padStart(6)} ms  ${longest.map((h) => h.toFixed(0)).join(', ')} ms`);
}
clearInterval(probe);
if (args['hold-times']) writeFileSync(args['hold-times'], JSON.stringify(holdTimes));
client.stdin.end();
await once(client, 'exit');
await service.stop();
rmSync(dir, { recursive: true, force: true });
