import { describe, expect, it } from 'vitest';
import { createMatcher, priceAt } from '../../src/pricing/match.js';
import { mergeTables, parsePriceFile } from '../../src/pricing/table.js';

// A small table where prices tell the providers apart (Vertex's Claude is priced differently on purpose).
const table = mergeTables(
  parsePriceFile(
    {
      prices: [
        { provider: 'openai', model: 'gpt-4o', aliases: ['gpt-4o-2024-08-06'], input: 2.5, output: 10, cache_read: 1.25 },
        { provider: 'openai', model: 'gpt-4o-2024-05-13', input: 5, output: 15 },
        { provider: 'openai', model: 'gpt-4o-mini', input: 0.15, output: 0.6 },
        { provider: 'anthropic', model: 'claude-sonnet-4-5', input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
        { provider: 'google', model: 'claude-sonnet-4-5', input: 3.3, output: 16.5 },
        { provider: 'groq', model: 'openai/gpt-oss-120b', input: 0.15, output: 0.6 },
        { provider: 'together', model: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', input: 0.88, output: 0.88 },
        { provider: 'x-ai', model: 'grok-4', input: 3, output: 15 },
      ],
    },
    'test table',
    'built-in',
  ),
  [],
);
const matcher = createMatcher(table);
const which = (model: string, provider = '') => {
  const entry = matcher.find(model, provider)?.[0]?.entry;
  return entry && `${entry.provider}/${entry.model}`;
};

describe('matching', () => {
  it.each<[string, string, string]>([
    ['exact', 'gpt-4o', 'openai/gpt-4o'],
    ['case-insensitive', 'GPT-4o', 'openai/gpt-4o'],
    ['an alias', 'gpt-4o-2024-08-06', 'openai/gpt-4o'],
    ['an exact name beats suffix stripping', 'gpt-4o-2024-05-13', 'openai/gpt-4o-2024-05-13'],
    ['-YYYY-MM-DD snapshot', 'gpt-4o-2024-11-20', 'openai/gpt-4o'],
    ['-YYYYMMDD snapshot', 'claude-sonnet-4-5-20250929', 'anthropic/claude-sonnet-4-5'],
    ['@YYYYMMDD snapshot (Vertex)', 'claude-sonnet-4-5@20250929', 'anthropic/claude-sonnet-4-5'],
    ['provider prefix', 'openai/gpt-4o', 'openai/gpt-4o'],
    ['prefix, case and snapshot together', 'OpenAI/GPT-4o-mini-2024-07-18', 'openai/gpt-4o-mini'],
    ['a prefix spelt as OpenRouter does', 'x-ai/grok-4', 'xai/grok-4'],
    ['a LiteLLM prefix in front of an id with a slash', 'together_ai/meta-llama/llama-3.3-70b-instruct-turbo', 'together/meta-llama/Llama-3.3-70B-Instruct-Turbo'],
    ['an id that contains a slash matches as a whole first', 'openai/gpt-oss-120b', 'groq/openai/gpt-oss-120b'],
  ])('%s: %s → %s', (_, model, expected) => {
    expect(which(model)).toBe(expected);
  });

  it.each<[string, string, string, string]>([
    ['the event provider picks among providers', 'claude-sonnet-4-5', 'google', 'google/claude-sonnet-4-5'],
    ['an OTel provider name', 'claude-sonnet-4-5@20250929', 'gcp.vertex_ai', 'google/claude-sonnet-4-5'],
    ['another OTel provider name', 'grok-4', 'x_ai', 'xai/grok-4'],
    ['an unknown provider is ignored', 'claude-sonnet-4-5', 'aws.bedrock', 'anthropic/claude-sonnet-4-5'],
    ['a provider without the model falls back to the maker', 'claude-sonnet-4-5', 'openai', 'anthropic/claude-sonnet-4-5'],
    ['the prefix is the provider for the rest of the name', 'openai/gpt-4o', 'openrouter', 'openai/gpt-4o'],
  ])('%s: %s from %s → %s', (_, model, provider, expected) => {
    expect(which(model, provider)).toBe(expected);
  });

  it.each<[string, string]>([
    ['a prefix of a name', 'gpt-4'],
    ['a longer name', 'gpt-4o-mini-high'],
    ['a truncated date', 'gpt-4o-2024'],
    ['an impossible date', 'gpt-4o-2024-13-01'],
    ['-latest (no such rule)', 'gpt-4o-latest'],
    ['a missing dash', 'gpt4o'],
    ['an unknown prefix', 'meta-llama/gpt-4o'],
    ['a Bedrock version suffix after the date', 'claude-sonnet-4-5-20250929-v1:0'],
    ['a suffix in the middle', 'gpt-4o-2024-08-06-mini'],
  ])('nothing fuzzy: %s (%s) matches nothing', (_, model) => {
    expect(which(model)).toBeUndefined();
  });

  it('answers repeated look-ups from its cache', () => {
    expect(matcher.find('GPT-4o', 'openai')).toBe(matcher.find('GPT-4o', 'openai'));
    expect(matcher.find('no-such-model', '')).toBeUndefined();
    expect(matcher.find('no-such-model', '')).toBeUndefined();
  });
});

describe('priceAt', () => {
  const dated = mergeTables(
    parsePriceFile(
      {
        prices: [
          { provider: 'openai', model: 'o3', input: 10, output: 40 },
          { provider: 'openai', model: 'o3', input: 2, output: 8, effective_from: '2025-06-10' },
        ],
      },
      'test table',
      'built-in',
    ),
    [],
  );
  const series = createMatcher(dated).find('o3', '')!;
  it.each<[string, number]>([
    ['2025-06-09T23:59:59.999Z', 10],
    ['2025-06-10T00:00:00.000Z', 2],
    ['2030-01-01T00:00:00.000Z', 2],
  ])('at %s the input price is %d', (at, input) => {
    expect(priceAt(series, Date.parse(at))?.entry.input).toBe(input);
  });
});
