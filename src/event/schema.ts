import { z } from 'zod';

/**
 * Bounds on free-form values, so one event can never grow without limit, and on its counts and
 * cost, so every value stays exact and within what the stored sums take (docs/operations.md, "Sums").
 */
export const LIMITS = {
  idLength: 128,
  dimensionLength: 256,
  attributeCount: 64,
  attributeKeyLength: 128,
  attributeValueLength: 1024,
  /** Per token count: over 700 times the largest context window in @pydantic/genai-prices (1,310,720 tokens). */
  tokens: 1_000_000_000,
  /** Per reported cost, in USD: 10^15 nano-dollars, exact as a JavaScript number. */
  costUsd: 1_000_000,
} as const;

export const EARLIEST_MS = Date.UTC(2000, 0, 1);
export const LATEST_MS = Date.UTC(2100, 0, 1);

/** The token counts of an event, as the API, the store and the reports name them. */
export const TOKEN_FIELDS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens'] as const;
export type TokenField = (typeof TOKEN_FIELDS)[number];

const tokens = z
  .number()
  .max(LIMITS.tokens, `must be at most ${LIMITS.tokens.toLocaleString('en-US')} (far beyond any model's context window)`)
  .int('must be a whole number')
  .min(0, 'must not be negative')
  .default(0);

/**
 * Text that every backend stores unchanged: a lone UTF-16 surrogate would be silently replaced when
 * encoded, and PostgreSQL refuses NUL in text, so both are rejected rather than altered.
 */
export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && s.isWellFormed();
}

/** A string that must be `isStorableText`. */
export const storableText = () => z.string().refine(isStorableText, 'must be valid Unicode text without NUL characters');

const dimension = storableText().trim().min(1, 'must not be empty').max(LIMITS.dimensionLength);
/** A project id as events name it; the projects API takes the same ids. */
export const ProjectId = dimension;

const timestamp = z.union(
  [
    z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
    z.number().int('epoch milliseconds must be a whole number'),
  ],
  { error: 'must be an RFC 3339 date-time with a zone (e.g. 2026-11-24T10:00:00Z) or epoch milliseconds' },
).refine((ms) => ms >= EARLIEST_MS && ms < LATEST_MS, 'must be between the years 2000 and 2100');

const attributes = z
  .record(
    storableText().min(1).max(LIMITS.attributeKeyLength),
    z.union([storableText().max(LIMITS.attributeValueLength), z.number().finite(), z.boolean()], {
      error: `must be a string of at most ${LIMITS.attributeValueLength} characters, a finite number or a boolean`,
    }),
  )
  .refine((a) => Object.keys(a).length <= LIMITS.attributeCount, `at most ${LIMITS.attributeCount} attributes`);

/**
 * One usage event as clients send it (native API). Unknown keys are rejected rather than ignored,
 * so a misspelt token field is an error and not a silent zero.
 */
export const UsageEventInput = z
  .strictObject({
    id: storableText().min(1, 'must not be empty').max(LIMITS.idLength).optional(),
    timestamp: timestamp.optional(),
    project: dimension.optional(),
    agent_id: dimension,
    model: dimension,
    provider: dimension.optional(),
    operation: dimension.optional(),
    task_label: dimension.optional(),
    run_id: dimension.optional(),
    step_id: dimension.optional(),
    session_id: dimension.optional(),
    user_id: dimension.optional(),
    input_tokens: tokens,
    output_tokens: tokens,
    cache_read_tokens: tokens,
    cache_write_tokens: tokens,
    reasoning_tokens: tokens,
    cost_usd: z.number().finite().min(0, 'must not be negative')
      .max(LIMITS.costUsd, `must be at most ${LIMITS.costUsd.toLocaleString('en-US')} (USD for one event)`).optional(),
    duration_ms: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    status: z.enum(['ok', 'error']).default('ok'),
    attributes: attributes.optional(),
  })
  .superRefine((e, ctx) => {
    // Only compare counts that are valid on their own; a bad one already has its own error.
    if ([e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens].some((n) => !Number.isSafeInteger(n) || n < 0 || n > LIMITS.tokens)) return;
    if (e.cache_read_tokens + e.cache_write_tokens > e.input_tokens) {
      ctx.addIssue({
        code: 'custom',
        path: ['cache_read_tokens'],
        message: 'cache_read_tokens + cache_write_tokens exceed input_tokens (input_tokens counts cached tokens too)',
      });
    }
    if (e.reasoning_tokens > e.output_tokens) {
      ctx.addIssue({
        code: 'custom',
        path: ['reasoning_tokens'],
        message: 'reasoning_tokens exceed output_tokens (output_tokens counts reasoning tokens too)',
      });
    }
  });

export type UsageEventInput = z.input<typeof UsageEventInput>;
export type ValidUsageEvent = z.output<typeof UsageEventInput>;

export const UsageBatchInput = z.strictObject({
  events: z.array(z.unknown(), { error: 'must be an array of events' }),
});

export const COST_SOURCES = ['reported', 'computed', 'unpriced'] as const;
export type CostSource = (typeof COST_SOURCES)[number];

/**
 * An event as stored: every default applied, time as epoch ms UTC, absent dimensions as '' (so the
 * raw table and the rollup group them identically), money as integer nano-dollars (sums are exact).
 */
export interface UsageRecord {
  id: string;
  ts: number;
  project: string;
  agent_id: string;
  model: string;
  provider: string;
  operation: string;
  task_label: string;
  run_id: string;
  step_id: string;
  session_id: string;
  user_id: string;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost_nanos: number;
  cost_source: CostSource;
  duration_ms: number | null;
  status: 'ok' | 'error';
  attributes: string | null;
  received_at: number;
}
