import { normalise } from '../src/event/normalise.js';
import type { UsageRecord, ValidUsageEvent } from '../src/event/schema.js';
import type { Pricer } from '../src/pricing/pricer.js';

/** Models an agent may call (all priced by the built-in table), with their providers. */
export const MODELS: readonly [model: string, provider: string][] = [
  ['gpt-4o', 'openai'], ['gpt-4o-mini', 'openai'], ['gpt-4.1', 'openai'], ['gpt-4.1-mini', 'openai'],
  ['o3', 'openai'], ['o4-mini', 'openai'], ['claude-sonnet-4-5', 'anthropic'], ['claude-haiku-4-5', 'anthropic'],
  ['claude-opus-4-1', 'anthropic'], ['gemini-2.5-flash', 'google'], ['gemini-2.5-pro', 'google'],
  ['text-embedding-3-small', 'openai'],
];
export const PROJECTS = ['atlas', 'borealis', 'cygnus', 'draco', 'eridanus', 'fornax', 'gemini', 'default'];
export const AGENTS = 40;
/** One run in this many is made by one more agent, RARE_AGENT: the needle of the filtered event list in the report figures. */
export const RARE_RUNS = 10_000;
export const RARE_AGENT = `agent-${AGENTS}`;
export const TASKS_PER_AGENT = 8;
export const EVENTS_PER_RUN = 25;
export const USERS = 500;
export const DAY_S = 86_400;

/** A cheap, stable integer hash, so the same n always makes the same event. */
function hash(n: number, salt: number): number {
  let h = Math.imul(n ^ salt, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** A generated event: every field but a reported cost is filled. */
export type BenchEvent = Required<Omit<ValidUsageEvent, 'cost_usd'>>;

/**
 * Event number n of a realistic fleet: runs of 25 calls, each run by one agent (which belongs to
 * one project and works on a few tasks, calling a few models), spread over the 30 days before
 * `now`. Cardinality at 1 M events: 8 projects, 40 agents (and RARE_AGENT), 320 tasks, 12 models,
 * 40,000 runs, 500 users. Every field is filled, so the result is already a valid event for normalise().
 */
export function makeEvent(n: number, idPrefix: string, now: number): BenchEvent {
  const run = Math.floor(n / EVENTS_PER_RUN);
  const step = n % EVENTS_PER_RUN;
  const r = hash(run, 1);
  const agent = hash(run, 7) % RARE_RUNS === 0 ? AGENTS : r % AGENTS;
  const [model, provider] = MODELS[(agent + (hash(n, 2) % 3) * 5) % MODELS.length]!;
  const embedding = model.startsWith('text-embedding');
  const input = 200 + (hash(n, 3) % 12_000);
  const output = embedding ? 0 : 20 + (hash(n, 4) % 1_500);
  return {
    id: `${idPrefix}-${n}`,
    timestamp: now - (r % (30 * DAY_S)) * 1000 + (step - EVENTS_PER_RUN) * 2_000,
    project: PROJECTS[agent % PROJECTS.length]!,
    agent_id: `agent-${agent}`,
    model,
    provider,
    operation: embedding ? 'embeddings' : 'chat',
    task_label: `agent-${agent}-task-${(r >>> 8) % TASKS_PER_AGENT}`,
    run_id: `run-${run}`,
    step_id: `step-${step}`,
    session_id: `session-${run >>> 2}`,
    user_id: `user-${(r >>> 16) % USERS}`,
    input_tokens: input,
    output_tokens: output,
    cache_read_tokens: step > 0 ? Math.floor(input * 0.6) : 0,
    cache_write_tokens: step === 0 ? Math.floor(input * 0.3) : 0,
    reasoning_tokens: model.startsWith('o') ? Math.floor(output / 2) : 0,
    duration_ms: 300 + (hash(n, 5) % 20_000),
    status: hash(n, 6) % 50 === 0 ? 'error' : 'ok',
    attributes: { region: 'eu-west-1', framework: 'langgraph' },
  };
}

/**
 * Loads whose times are live put each event's call at most this long before its request is sent
 * (the generator's own time of the event, folded into the window): Claude Code exports its log
 * records every 5 s by default (`OTEL_LOGS_EXPORT_INTERVAL`, code.claude.com/docs/en/monitoring-usage),
 * so a live record is 0–5 s old when it goes out. Ids led by that time land among the newest in the
 * id index, as a live agent's do. A wider window scatters them again: a minute holds every event of
 * a 10 s load (docs/benchmarks.md, "Logs ids, session 12").
 */
const LIVE_WINDOW_MS = 5_000;

/** How long before its request is sent an event generated as of `now` was made, in a load with live times. */
export function msBeforeSend(timestamp: number, now: number): number {
  return (now - timestamp) % LIVE_WINDOW_MS;
}

export function makeEvents(first: number, count: number, idPrefix: string, now = Date.now()): BenchEvent[] {
  return Array.from({ length: count }, (_, i) => makeEvent(first + i, idPrefix, now));
}

/** Events as stored: normalised and priced as the collector would, without HTTP or validation. */
export function makeRecords(first: number, count: number, pricer: Pricer, now = Date.now()): UsageRecord[] {
  return makeEvents(first, count, 'bench', now).map((event) => {
    const record = normalise(event, now);
    pricer.price(record);
    return record;
  });
}
