import { normalise } from '../src/event/normalise.js';
import { UsageEventInput, type UsageRecord } from '../src/event/schema.js';

// Each model with its real provider, so every event is priced as in a real deployment.
const MODELS = [['gpt-4o', 'openai'], ['gpt-4o-mini', 'openai'], ['claude-sonnet-4-5', 'anthropic'], ['gemini-2.5-flash', 'google'], ['o3', 'openai']] as const;
const AGENTS = Array.from({ length: 20 }, (_, i) => `agent-${i}`);
const PROJECTS = ['atlas', 'borealis', 'cygnus', 'default'];

let counter = 0;

/** Realistic native events spread over the last 30 days, each with a unique id. */
export function makeEvents(count: number, prefix = 'bench'): Record<string, unknown>[] {
  const now = Date.now();
  return Array.from({ length: count }, () => {
    const n = counter++;
    const input = 200 + (n % 5000);
    return {
      id: `${prefix}-${process.pid}-${n}`,
      timestamp: now - (n % (30 * 86_400)) * 1000,
      project: PROJECTS[n % PROJECTS.length],
      agent_id: AGENTS[n % AGENTS.length],
      model: MODELS[n % MODELS.length]![0],
      provider: MODELS[n % MODELS.length]![1],
      task_label: `task-${n % 50}`,
      run_id: `run-${Math.floor(n / 100)}`,
      input_tokens: input,
      output_tokens: 50 + (n % 700),
      cache_read_tokens: n % 3 === 0 ? Math.floor(input / 2) : 0,
    };
  });
}

export function toRecords(events: Record<string, unknown>[]): UsageRecord[] {
  const now = Date.now();
  return events.map((e) => normalise(UsageEventInput.parse(e), now));
}
