import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { registryOf, telemetry } from '../../src/telemetry.js';

const TYPES = ['input', 'output', 'cache_read', 'cache_write', 'reasoning'] as const;

/** The spend counters as they were kept before: each committed batch's sums added with `inc`, a project and model pair at a time. */
function reference() {
  const registry = new Registry();
  const tokens = new Counter({ name: 'tokentally_tokens_total', help: 'h', labelNames: ['type', 'project', 'model'], registers: [registry] });
  const cost = new Counter({ name: 'tokentally_cost_usd_total', help: 'h', labelNames: ['project', 'model'], registers: [registry] });
  return {
    registry,
    commit(records: readonly UsageRecord[], inserted: readonly boolean[]) {
      const sums = new Map<string, { project: string; model: string; values: number[] }>();
      records.forEach((r, i) => {
        if (!inserted[i]) return;
        const key = `${r.project}\u0000${r.model}`;
        let sum = sums.get(key);
        if (!sum) sums.set(key, (sum = { project: r.project, model: r.model, values: [0, 0, 0, 0, 0, 0] }));
        [r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens, r.reasoning_tokens, r.cost_nanos].forEach((v, k) => (sum!.values[k]! += v));
      });
      for (const { project, model, values } of sums.values()) {
        TYPES.forEach((type, k) => tokens.inc({ type, project, model }, values[k]!));
        cost.inc({ project, model }, values[5]! / 1e9);
      }
    },
  };
}

const record = (project: string, model: string, n: number) => ({
  project, model, input_tokens: 1000 + n, output_tokens: 7 * n, cache_read_tokens: n % 3, cache_write_tokens: 0, reasoning_tokens: n % 2, cost_nanos: 1_234_567 * n + 1,
}) as UsageRecord;

/** The metric's series and values (its help text is the reference's own). */
const lines = async (registry: Registry, name: string) => (await registry.getSingleMetricAsString(name)).split('\n').filter((line) => !line.startsWith('# HELP')).join('\n');

describe('the spend counters', () => {
  it('read on each scrape exactly what an inc a batch gave: values to the bit, series in the order first counted', async () => {
    const ref = reference();
    const projects = ['atlas', 'borealis', 'cygnus'];
    const models = ['gpt-4o', 'o3', 'claude-sonnet-4-5', 'gemini-2.5-pro'];
    for (let batch = 0; batch < 12; batch++) {
      const records = Array.from({ length: 40 }, (_, i) => record(projects[(batch + i) % 3]!, models[(batch * i) % 4]!, batch * 40 + i));
      // Some records are repeats: a pair whose records all were never counts.
      const inserted = records.map((_, i) => (batch + i) % 5 !== 0);
      telemetry.recordCommitted(telemetry.usageOf(records), inserted);
      ref.commit(records, inserted);
      if (batch % 4 === 3) {
        for (const name of ['tokentally_tokens_total', 'tokentally_cost_usd_total']) {
          expect(await lines(registryOf('collector'), name)).toBe(await lines(ref.registry, name));
        }
      }
    }
    const scraped = await lines(registryOf('collector'), 'tokentally_cost_usd_total');
    expect(await lines(registryOf('collector'), 'tokentally_cost_usd_total')).toBe(scraped);
  });
});
