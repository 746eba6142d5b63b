import { describe, expect, it } from 'vitest';
import { costNanos, picoPerToken, unitPrices, type TokenCounts } from '../../src/pricing/cost.js';

// Hand arithmetic: 1 USD per million tokens = 1e9 nanos / 1e6 tokens = 1,000 nano-dollars per token.
const tokens = (t: Partial<TokenCounts>): TokenCounts => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  ...t,
});
// Prices in USD per million: input 3, output 15, cache read 0.3, cache write 3.75 (nanos/token: 3000, 15000, 300, 3750).
const sonnet = unitPrices({ input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 });

describe('costNanos, one token type at a time', () => {
  it.each<[string, Partial<TokenCounts>, number]>([
    ['uncached input: 1,000 × 3,000', { input_tokens: 1_000 }, 3_000_000],
    ['cache read: 1,000 × 300 (cached tokens are inside input)', { input_tokens: 1_000, cache_read_tokens: 1_000 }, 300_000],
    ['cache write: 1,000 × 3,750', { input_tokens: 1_000, cache_write_tokens: 1_000 }, 3_750_000],
    ['output: 1,000 × 15,000', { output_tokens: 1_000 }, 15_000_000],
    [
      'all four: 2,000 × 3,000 + 6,000 × 300 + 2,000 × 3,750 + 500 × 15,000',
      { input_tokens: 10_000, cache_read_tokens: 6_000, cache_write_tokens: 2_000, output_tokens: 500 },
      6_000_000 + 1_800_000 + 7_500_000 + 7_500_000,
    ],
    ['nothing', {}, 0],
  ])('%s', (_, t, nanos) => {
    expect(costNanos(tokens(t), sonnet)).toBe(nanos);
  });
});

describe('an absent cache price bills those tokens as ordinary input', () => {
  const plain = unitPrices({ input: 2, output: 6 });
  it('cache read and write at the input price: 1,000 × 2,000 + 100 × 6,000', () => {
    expect(plain).toEqual({ input: 2_000_000, output: 6_000_000, cacheRead: 2_000_000, cacheWrite: 2_000_000 });
    expect(costNanos(tokens({ input_tokens: 1_000, cache_read_tokens: 400, cache_write_tokens: 100, output_tokens: 100 }), plain)).toBe(
      2_600_000,
    );
  });
});

describe('exact arithmetic and a single half-up rounding', () => {
  it.each<[string, number, number]>([
    ['$0.000001/M is 1 pico per token', 0.000001, 1],
    ['$0.07/M', 0.07, 70_000],
    ['$0.01875/M', 0.01875, 18_750],
    ['$0.003625/M', 0.003625, 3_625],
    ['$150/M', 150, 150_000_000],
  ])('picoPerToken: %s', (_, usd, pico) => {
    expect(picoPerToken(usd)).toBe(pico);
  });

  it.each<[string, number, number, number]>([
    ['3 tokens at $0.07/M = 210 nanos, not 210.00000000000003', 0.07, 3, 210],
    ['1 token at $0.0375/M = 37.5 → 38 (half up)', 0.0375, 1, 38],
    ['2 tokens at $0.0375/M = 75', 0.0375, 2, 75],
    ['3 tokens at $0.0375/M = 112.5 → 113', 0.0375, 3, 113],
    ['499 tokens at $0.000001/M = 0.499 → 0', 0.000001, 499, 0],
    ['500 tokens at $0.000001/M = 0.5 → 1', 0.000001, 500, 1],
    ['1,499 tokens at $0.000001/M = 1.499 → 1', 0.000001, 1_499, 1],
  ])('%s', (_, usd, n, nanos) => {
    expect(costNanos(tokens({ output_tokens: n }), unitPrices({ input: 0, output: usd }))).toBe(nanos);
  });

  it('rounds the sum once, not each part: 0.4 + 0.4 nanos = 0.8 → 1', () => {
    const p = unitPrices({ input: 0.0004, output: 0.0004 });
    expect(costNanos(tokens({ input_tokens: 1, output_tokens: 1 }), p)).toBe(1);
  });

  it('0.1 + 0.2 is exactly 300 nanos', () => {
    expect(costNanos(tokens({ input_tokens: 1, output_tokens: 1 }), unitPrices({ input: 0.1, output: 0.2 }))).toBe(300);
  });

  it('stays exact past 2^53 pico (BigInt path): 250,000,000,001 × 37,500 pico = 9,375,000,000,037.5 → …038 nanos', () => {
    const p = unitPrices({ input: 1, output: 0, cache_read: 0.0375 });
    const t = tokens({ input_tokens: 250_000_000_001, cache_read_tokens: 250_000_000_001 });
    expect(costNanos(t, p)).toBe(9_375_000_000_038);
  });

  it('the largest token count at the smallest price: (2^53 − 1) pico = 9,007,199,254,740.991 → …741 nanos', () => {
    const p = unitPrices({ input: 0, output: 0.000001 });
    expect(costNanos(tokens({ output_tokens: Number.MAX_SAFE_INTEGER }), p)).toBe(9_007_199_254_741);
  });
});
