import { parseArgs } from 'node:util';
import { SpanMemory } from '../collector/otlp/span-memory.js';

/**
 * The span memory's CPU per usage span once it is full, in-process: each usage span of the mixed
 * trace load (i) starts a trace of its own, remembers its parent's id and is matched with the calls
 * already seen, so every one evicts the oldest trace, call and response id (docs/benchmarks.md,
 * "The span memory's evictions, session 29").
 *
 *   npm run build && node dist/bench/span-memory-cost.js [--spans 100000]
 */

const { values: args } = parseArgs({ options: { spans: { type: 'string', default: '100000' } } });
const spans = Number(args.spans);
const memory = new SpanMemory();
const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');
const PARENT = hex(1, 16);
let next = 0;

function usageSpan(): void {
  const n = next++;
  const traceId = hex(n, 32);
  memory.rememberUsageBelow(traceId, PARENT, '*');
  memory.call({
    key: `${traceId}${hex(2, 16)}`, partition: '*', scope: 'scope', resource: 'resource', models: ['model'], responseId: `resp_${n}`,
    inputTokens: String(1_000 + (n % 5_000)), startNanos: BigInt(n) * 1_000n, endNanos: BigInt(n) * 1_000n + 10n,
  });
}

// Fuller than every bound (10,000 traces, calls and response ids), and the hot code compiled.
for (let i = 0; i < 30_000; i++) usageSpan();
const started = process.hrtime.bigint();
for (let i = 0; i < spans; i++) usageSpan();
const µs = Number(process.hrtime.bigint() - started) / 1_000 / spans;
console.log(`span memory, full: ${µs.toFixed(2)} µs a usage span over ${spans.toLocaleString('en')} (wall time, one thread)`);
