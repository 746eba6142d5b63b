/**
 * The main thread's cost of a native JSON batch, stage by stage, in one process and without HTTP:
 * the bench's own 1,000-event bodies (times live, as (b) sends them) through the route's steps, each
 * stage over a whole body before the next (docs/benchmarks.md, "JSON ingest CPU, session 13"):
 *
 *   npm run build && node dist/bench/json-ingest-cost.js --bodies 40 --rounds 5
 *
 * `post` is the structured serialization that posting the rows to the insert thread does
 * (`v8.serialize`, the same serializer; it copies the packed numbers, which posting moves, so it
 * reads a little high). Since session 15 the rows are packed (`packRows`), so the last two stages
 * do not compare with earlier sessions' `toRow` arrays. `--through <stage>` stops after that stage. Instructions in
 * the steady state, once the JIT has compiled the hot code (under valgrind that takes rounds), come
 * from callgrind zeroing its counts where the warm-up rounds end (`process.resourceUsage()` marks it):
 *
 *   valgrind --tool=callgrind --zero-before='*ResourceUsage*' node dist/bench/json-ingest-cost.js --bodies 20 --warmup 6 --rounds 3
 *
 * less the same with `--rounds 0` (the exit), over the events of the counted rounds.
 */
import { parseArgs } from 'node:util';
import { serialize } from 'node:v8';
import { loadavg } from 'node:os';
import { OPEN_ACCESS } from '../src/auth/keys.js';
import type { UsageRecord, ValidUsageEvent } from '../src/event/schema.js';
import { validateEvent, type EventError } from '../src/event/validate.js';
import { createPricer, loadPriceTable } from '../src/pricing/index.js';
import { packRows } from '../src/store/packed-rows.js';
import { cutJson } from '../collector/json.js';
import { priced, scopeEvent } from '../collector/ingest.js';
import { EVENT_LIMITS } from '../collector/routes/usage.js';
import { countLimits } from '../collector/decode-limits.js';
import { usageBodies } from './load.js';

const STAGES = ['cut', 'parse', 'validate', 'scope', 'price', 'row', 'post'] as const;
type Stage = (typeof STAGES)[number];

const { values: args } = parseArgs({
  options: {
    bodies: { type: 'string', default: '40' },
    batch: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '5' },
    through: { type: 'string', default: 'post' },
  },
});
const through = STAGES.indexOf(args.through as Stage);
if (through < 0) throw new Error(`--through: one of ${STAGES.join(', ')}`);
const batch = Number(args.batch);
const bodyOf = usageBodies({ url: '', batch, connections: 1, seconds: 1, times: 'live' }, 0);
const bodies = Array.from({ length: Number(args.bodies) }, (_, n) => Buffer.from(bodyOf(n)));
const pricer = createPricer(loadPriceTable());
const counts = countLimits({ maxValuesPerRequest: 1_000_000, maxRecordsPerRequest: 10_000, maxEventsPerRequest: 10_000 });
const limits = { values: counts.values, counted: { keys: ['events'], depth: 1, count: counts.events, each: EVENT_LIMITS } };

/** One body through the stages up to `through`, each stage's nanoseconds added to `spent`. */
function ingest(body: Buffer, spent: Float64Array): void {
  let t = process.hrtime.bigint();
  const lap = (stage: number): boolean => {
    const now = process.hrtime.bigint();
    spent[stage] = spent[stage]! + Number(now - t);
    t = now;
    return stage < through;
  };
  const cut = cutJson(body, limits);
  const numbers = (cut.outline as { events: number[] }).events;
  if (!lap(0)) return;
  const raw = numbers.map((n, index) => cut.element(n, `events[${index}]`));
  if (!lap(1)) return;
  const errors: EventError[] = [];
  const valid = raw.map((event, index) => validateEvent(event, index, 'events', errors)!);
  if (errors.length > 0) throw new Error(`${errors[0]!.path}: ${errors[0]!.message}`);
  if (!lap(2)) return;
  const scoped = valid.map((event, index) => scopeEvent(event, index, OPEN_ACCESS, 'events', errors) as ValidUsageEvent);
  if (!lap(3)) return;
  const receivedAt = Date.now();
  const records: UsageRecord[] = scoped.map((event) => priced(event, receivedAt, pricer));
  if (!lap(4)) return;
  const rows = packRows(records);
  if (!lap(5)) return;
  serialize({ id: 1, records: rows, retryForMs: 30_000 });
  lap(6);
}

console.log(`${bodies.length} bodies of ${batch} events (${(bodies[0]!.length / batch).toFixed(0)} bytes an event), through ${STAGES[through]}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (let round = 0; round < Number(args.warmup); round++) for (const body of bodies) ingest(body, new Float64Array(STAGES.length));
process.resourceUsage();
for (let round = 0; round < Number(args.rounds); round++) {
  const spent = new Float64Array(STAGES.length);
  const cpu = process.cpuUsage();
  for (const body of bodies) ingest(body, spent);
  const used = process.cpuUsage(cpu);
  const events = bodies.length * batch;
  const stages = STAGES.slice(0, through + 1).map((s, i) => `${s} ${(spent[i]! / 1000 / events).toFixed(2)}`).join(', ');
  console.log(`round ${round + 1}: CPU ${((used.user + used.system) / events).toFixed(2)} µs an event; wall by stage, µs an event: ${stages}`);
}
