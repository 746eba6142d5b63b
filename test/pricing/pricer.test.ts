import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { UsageRecord } from '../../src/event/schema.js';
import { createPricer, describePrices, loadPriceTable } from '../../src/pricing/index.js';

const OVERRIDE = fileURLToPath(new URL('../fixtures/pricing/override.json', import.meta.url));

function record(over: Partial<UsageRecord>): UsageRecord {
  return {
    id: 'e1', ts: Date.parse('2026-11-01T12:00:00Z'), project: 'default', agent_id: 'agent', model: 'gpt-4o',
    provider: '', operation: 'chat', task_label: '', run_id: '', step_id: '', session_id: '', user_id: '',
    input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0,
    cost_nanos: 0, cost_source: 'unpriced', duration_ms: null, status: 'ok', attributes: null, received_at: 0,
    ...over,
  };
}

const priced = (pricer: ReturnType<typeof createPricer>, over: Partial<UsageRecord>) => {
  const r = record(over);
  pricer.price(r);
  return r;
};

// List prices of @pydantic/genai-prices 0.1.8, checked by hand; a regenerated table may change them.
// USD per million × 1,000 = nanos per token.
describe('real models from the built-in table', () => {
  const pricer = createPricer(loadPriceTable());
  it.each<[string, Partial<UsageRecord>, number]>([
    [
      'gpt-4o ($2.50 in, $1.25 cache read, $10 out): 6,000 × 2,500 + 4,000 × 1,250 + 1,000 × 10,000',
      { model: 'gpt-4o-2024-08-06', provider: 'openai', input_tokens: 10_000, cache_read_tokens: 4_000, output_tokens: 1_000 },
      15_000_000 + 5_000_000 + 10_000_000,
    ],
    [
      'gpt-4o has no cache-write price, so writes bill as input: 2,000 × 2,500',
      { model: 'gpt-4o', input_tokens: 2_000, cache_write_tokens: 1_000 },
      5_000_000,
    ],
    [
      'claude-sonnet-4-5 ($3, read $0.30, write $3.75, out $15): 3,000 × 3,000 + 12,000 × 300 + 5,000 × 3,750 + 800 × 15,000',
      {
        model: 'claude-sonnet-4-5-20250929', provider: 'anthropic', input_tokens: 20_000, cache_read_tokens: 12_000,
        cache_write_tokens: 5_000, output_tokens: 800, reasoning_tokens: 300,
      },
      9_000_000 + 3_600_000 + 18_750_000 + 12_000_000,
    ],
    [
      'o3 after its 2025-06-10 cut ($2 in, $8 out), reasoning inside output: 1,000 × 2,000 + 5,000 × 8,000',
      { model: 'o3', ts: Date.parse('2025-07-01T00:00:00Z'), input_tokens: 1_000, output_tokens: 5_000, reasoning_tokens: 4_000 },
      2_000_000 + 40_000_000,
    ],
    [
      'o3 before the cut ($10 in, $40 out): 1,000 × 10,000 + 5,000 × 40,000',
      { model: 'o3', ts: Date.parse('2025-05-01T00:00:00Z'), input_tokens: 1_000, output_tokens: 5_000, reasoning_tokens: 4_000 },
      10_000_000 + 200_000_000,
    ],
    [
      'gemini-2.5-flash ($0.30 in, $0.03 read, $2.50 out): 50,000 × 300 + 50,000 × 30 + 2,000 × 2,500',
      { model: 'gemini-2.5-flash', provider: 'gcp.gemini', input_tokens: 100_000, cache_read_tokens: 50_000, output_tokens: 2_000 },
      15_000_000 + 1_500_000 + 5_000_000,
    ],
    [
      'mistral-large-latest has no cache prices: 1,000 × 2,000 + 100 × 6,000',
      { model: 'mistral-large-latest', input_tokens: 1_000, cache_read_tokens: 400, cache_write_tokens: 100, output_tokens: 100 },
      2_000_000 + 600_000,
    ],
    [
      'Llama 3.3 70B on Groq ($0.59 in, $0.79 out): 1,000,000 × 590 + 100,000 × 790',
      { model: 'llama-3.3-70b-versatile', provider: 'groq', input_tokens: 1_000_000, output_tokens: 100_000 },
      590_000_000 + 79_000_000,
    ],
  ])('%s', (_, over, nanos) => {
    const r = priced(pricer, over);
    expect(r.cost_source).toBe('computed');
    expect(r.cost_nanos).toBe(nanos);
  });

  it('stores an unknown model with cost 0 and unpriced', () => {
    const r = priced(pricer, { model: 'my-private-model', input_tokens: 1_000, output_tokens: 1_000 });
    expect([r.cost_source, r.cost_nanos]).toEqual(['unpriced', 0]);
  });

  it('keeps a reported cost as reported', () => {
    const r = priced(pricer, { model: 'gpt-4o', input_tokens: 1_000_000, cost_source: 'reported', cost_nanos: 123 });
    expect([r.cost_source, r.cost_nanos]).toEqual(['reported', 123]);
  });

  it('every built-in entry names its source and as-of date', () => {
    const rows = describePrices(loadPriceTable());
    expect(rows.length).toBeGreaterThan(300);
    for (const row of rows) {
      expect(row.source).toMatch(/^@pydantic\/genai-prices \d+\.\d+\.\d+$/);
      expect(row.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });
});

describe('a user price file over the built-in table', () => {
  const table = loadPriceTable({ userFile: OVERRIDE });
  const pricer = createPricer(table);
  const gpt4o = { model: 'gpt-4o', input_tokens: 1_000_000, output_tokens: 100_000 };

  it('prices an event before the effective date at the built-in price: 1,000,000 × 2,500 + 100,000 × 10,000', () => {
    const r = priced(pricer, { ...gpt4o, ts: Date.parse('2026-11-30T23:59:59.999Z') });
    expect(r.cost_nanos).toBe(2_500_000_000 + 1_000_000_000);
  });

  it('prices an event from the effective date on at the user price: 1,000,000 × 2,000 + 100,000 × 8,000', () => {
    const r = priced(pricer, { ...gpt4o, ts: Date.parse('2026-12-01T00:00:00Z') });
    expect(r.cost_nanos).toBe(2_000_000_000 + 800_000_000);
  });

  it('adds a model of its own, priced only from its effective date: 1,000 × 1,500 + 1,000 × 4,500', () => {
    const event = { model: 'ACME-L', provider: 'acme', input_tokens: 1_000, output_tokens: 1_000 };
    expect(priced(pricer, { ...event, ts: Date.parse('2025-12-31T23:59:59Z') }).cost_source).toBe('unpriced');
    expect(priced(pricer, { ...event, ts: Date.parse('2026-01-01T00:00:00Z') }).cost_nanos).toBe(6_000_000);
  });

  it('an undated user price replaces every built-in price of the model: 1,000 × 1,000 + 1,000 × 4,000', () => {
    for (const at of ['2025-05-01T00:00:00Z', '2025-07-01T00:00:00Z']) {
      expect(priced(pricer, { model: 'o3-2025-04-16', ts: Date.parse(at), input_tokens: 1_000, output_tokens: 1_000 }).cost_nanos).toBe(5_000_000);
    }
  });

  it('lists the price in effect and the next change', () => {
    const row = (at: string) => describePrices(table, new Date(at)).find((r) => r.provider === 'openai' && r.model === 'gpt-4o');
    expect(row('2026-11-15T00:00:00Z')).toMatchObject({ input: 2.5, origin: 'built-in', next_change: '2026-12-01' });
    expect(row('2026-12-02T00:00:00Z')).toMatchObject({ input: 2, origin: 'user', source: 'contract 2026-11', next_change: null });
    expect(pricer.lookup('openai/gpt-4o-2024-11-20', '', new Date('2026-12-02T00:00:00Z'))?.input).toBe(2);
  });
});
