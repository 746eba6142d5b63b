/**
 * Exact cost arithmetic. Prices are USD per million tokens in the table; here each is converted once to an
 * integer number of pico-dollars per token (1 USD/M = 1e-6 USD/token = 1e6 pico-USD/token), which is exact for
 * any price with at most 6 decimals (the table's schema enforces that). A cost is then a sum of integer
 * products, and the only rounding is the final pico -> nano division, half-up, once per event.
 */

/** Integer pico-dollars per token for each token type; absent cache prices are already resolved to input. */
export interface UnitPrices {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

export interface TokenCounts {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
}

export interface UsdPerMillion {
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
}

const PICO_PER_NANO = 1000;
const PICO_PER_NANO_BIG = 1000n;

export function picoPerToken(usdPerMillion: number): number {
  return Math.round(usdPerMillion * 1e6);
}

/**
 * An absent cache price means the catalogue lists no separate rate for those tokens: the provider bills them as
 * ordinary input (OpenAI has no cache-write surcharge; hosts without caching bill every prompt token alike).
 */
export function unitPrices(p: UsdPerMillion): UnitPrices {
  const input = picoPerToken(p.input);
  return {
    input,
    output: picoPerToken(p.output),
    cacheRead: p.cache_read === undefined ? input : picoPerToken(p.cache_read),
    cacheWrite: p.cache_write === undefined ? input : picoPerToken(p.cache_write),
  };
}

/**
 * Cost in integer nano-dollars: uncached input × input + cache reads × cache read + cache writes × cache write +
 * output × output (input counts cached tokens, output counts reasoning tokens).
 *
 * Fast path in doubles: every term is a non-negative integer product, so if the float sum is at most
 * 2^53 − 1 then no product or partial sum exceeded 2^53 and all of them were exact. Otherwise (a cost above
 * about $9,000 in one event) the same sum is redone in BigInt. The result is exact whenever it is below 2^53
 * nano-dollars (about $9M per event); beyond that it is the nearest double.
 */
export function costNanos(t: TokenCounts, p: UnitPrices): number {
  // Validation guarantees cache reads + writes ≤ input; the clamp keeps a cost from ever going negative.
  const uncached = Math.max(0, t.input_tokens - t.cache_read_tokens - t.cache_write_tokens);
  const pico =
    uncached * p.input +
    t.cache_read_tokens * p.cacheRead +
    t.cache_write_tokens * p.cacheWrite +
    t.output_tokens * p.output;
  if (pico <= Number.MAX_SAFE_INTEGER) {
    const rest = pico % PICO_PER_NANO; // exact: remainder of integers
    return (pico - rest) / PICO_PER_NANO + (rest * 2 >= PICO_PER_NANO ? 1 : 0);
  }
  const big =
    BigInt(uncached) * BigInt(p.input) +
    BigInt(t.cache_read_tokens) * BigInt(p.cacheRead) +
    BigInt(t.cache_write_tokens) * BigInt(p.cacheWrite) +
    BigInt(t.output_tokens) * BigInt(p.output);
  return Number((big + PICO_PER_NANO_BIG / 2n) / PICO_PER_NANO_BIG);
}
