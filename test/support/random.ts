/** A small seeded generator, so a failing property test can be replayed. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    subset: <T>(items: readonly T[]): T[] => items.filter(() => next() < 0.4),
  };
}

export const VALUES = {
  project: ['atlas', 'borealis', 'default'],
  agent: ['planner', 'coder', 'reviewer'],
  model: ['gpt-4o', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'mystery-model'],
  provider: ['openai', 'anthropic', 'google', undefined],
  task: ['triage', 'refactor', undefined],
  run: ['run-1', 'run-2', 'run-3', undefined],
  operation: ['chat', 'embeddings', undefined],
  status: ['ok', 'error'],
} as const;

/** A random valid native event within November 2026; ids repeat on purpose (duplicates). */
export function randomEvent(r: ReturnType<typeof rng>, idSpace: number) {
  const input = r.int(0, 50_000);
  const output = r.int(0, 5_000);
  const cacheRead = r.int(0, input);
  const event: Record<string, unknown> = {
    id: `ev-${r.int(1, idSpace)}`,
    timestamp: Date.UTC(2026, 10, r.int(1, 30), r.int(0, 23), r.int(0, 59), r.int(0, 59), r.int(0, 999)),
    project: r.pick(VALUES.project),
    agent_id: r.pick(VALUES.agent),
    model: r.pick(VALUES.model),
    provider: r.pick(VALUES.provider),
    task_label: r.pick(VALUES.task),
    run_id: r.pick(VALUES.run),
    operation: r.pick(VALUES.operation),
    status: r.pick(VALUES.status),
    input_tokens: input,
    output_tokens: output,
    cache_read_tokens: cacheRead,
    cache_write_tokens: r.int(0, input - cacheRead),
    reasoning_tokens: r.int(0, output),
  };
  if (r.next() < 0.5) event.cost_usd = r.int(0, 10_000_000) / 1e9 * 1000;
  return Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined));
}
