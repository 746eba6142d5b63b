import { rng } from './random.js';

const PROJECTS = ['atlas', 'borealis', 'cygnus', 'dorado', 'default'];
const AGENTS = ['planner', 'coder', 'reviewer', 'support-bot'];
const MODELS = [
  { model: 'claude-sonnet-4-5', provider: 'anthropic' },
  { model: 'gpt-4o', provider: 'openai' },
  { model: 'gpt-4o-mini', provider: 'openai' },
  { model: 'gemini-2.5-flash', provider: 'google' },
  { model: 'in-house-llm', provider: 'self-hosted' },
];
const TASKS = ['triage', 'refactor', 'search', 'summarise', undefined];
const DAY_MS = 86_400_000;

/**
 * A few weeks of plausible traffic up to `now`: busier projects and pricier models more often,
 * about one event in ten with a client-reported cost, and one model without a price.
 */
export function realisticEvents(now: number, days = 45, seed = 7): Record<string, unknown>[] {
  const r = rng(seed);
  const events: Record<string, unknown>[] = [];
  for (let d = days; d >= 0; d--) {
    const count = r.int(20, 45);
    for (let i = 0; i < count; i++) {
      const ts = now - d * DAY_MS - r.int(0, DAY_MS - 1);
      if (ts > now) continue;
      const { model, provider } = MODELS[Math.min(r.int(0, 5), r.int(0, 4))]!;
      const input = r.int(2_000, 120_000);
      const output = r.int(100, 8_000);
      const event: Record<string, unknown> = {
        id: `seed-${d}-${i}`,
        timestamp: ts,
        project: PROJECTS[Math.min(r.int(0, 4), r.int(0, 4))],
        agent_id: r.pick(AGENTS),
        model,
        provider,
        task_label: r.pick(TASKS),
        input_tokens: input,
        cache_read_tokens: r.int(0, Math.floor(input / 2)),
        output_tokens: output,
      };
      if (r.next() < 0.1) event.cost_usd = r.int(1, 50_000) / 1e6;
      events.push(Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined)));
    }
  }
  return events;
}
