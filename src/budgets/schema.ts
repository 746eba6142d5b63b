import { z } from 'zod';
import type { Principal } from '../auth/keys.js';
import { usdToNanos } from '../event/normalise.js';
import { LIMITS, storableText } from '../event/schema.js';
import { quoteInput } from '../http/errors.js';
import { ZoneName } from '../zone.js';

/** The dimensions a budget can be scoped by, named as the reports' filters name them. */
export const BUDGET_DIMENSIONS = ['project', 'agent', 'user', 'model', 'provider', 'task'] as const;
export type BudgetDimension = (typeof BUDGET_DIMENSIONS)[number];

/** Calendar windows (in the budget's time zone) and rolling ones (ending now). */
export const CALENDAR_WINDOWS = ['day', 'week', 'month'] as const;
export const ROLLING_WINDOWS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export const WINDOWS = [...CALENDAR_WINDOWS, ...(Object.keys(ROLLING_WINDOWS) as (keyof typeof ROLLING_WINDOWS)[])] as const;
export type BudgetWindowKind = (typeof WINDOWS)[number];

export const DEFAULT_THRESHOLDS = [50, 80, 100];
export const MAX_TARGETS = 10;
export const MAX_THRESHOLDS = 10;

export const BudgetId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit');

const value = storableText().trim().min(1, 'must not be empty').max(LIMITS.dimensionLength);
/** One value or a list of them: the budget covers events with any of them. */
const values = z.union([value.transform((v) => [v]), z.array(value).min(1, 'must list at least one value').max(100)], {
  error: 'must be a string or a list of strings',
}).transform((list) => [...new Set(list)]);

export const BudgetScope = z.strictObject(Object.fromEntries(BUDGET_DIMENSIONS.map((d) => [d, values.optional()])) as Record<BudgetDimension, z.ZodOptional<typeof values>>);
export type BudgetScope = Partial<Record<BudgetDimension, string[]>>;

// fetch refuses a URL with credentials, and would quote all of it in the error kept for /readyz.
const url = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).max(2048)
  .refine((value) => !/^[^/]*\/\/[^/?#]*@/.test(value), 'must not carry a user name or password: notifications cannot send them (a Slack or webhook URL carries its secret in its path)');

/** A webhook's secret is write-only: the API never returns it, and an edit that leaves it out keeps the one stored for the same URL. */
const WebhookTarget = z.strictObject({
  type: z.literal('webhook'),
  url,
  secret: z.string().min(16, 'must be at least 16 characters').max(256).optional(),
});
const SlackTarget = z.strictObject({ type: z.literal('slack'), url });
export const TargetInput = z.discriminatedUnion('type', [WebhookTarget, SlackTarget], {
  error: (issue) => issue.code === 'invalid_union' ? 'type: must be "webhook" or "slack"' : undefined,
});
export type TargetInput = z.infer<typeof TargetInput>;
/** A target as stored: a webhook always has its secret. */
export type Target = { type: 'webhook'; url: string; secret: string } | { type: 'slack'; url: string };

export const BudgetInput = z.strictObject({
  name: storableText().trim().min(1, 'must not be empty').max(200).optional(),
  scope: BudgetScope.default({}),
  window: z.enum(WINDOWS, { error: (issue) => `${quoteInput(issue.input)} is not one of ${WINDOWS.join(', ')}` }),
  tz: ZoneName.default('UTC'),
  limit_usd: z.number({ error: 'must be a number of US dollars' }).positive('must be more than 0').max(LIMITS.costUsd, `must be at most ${LIMITS.costUsd}`)
    // Kept in whole nano-dollars: a smaller limit would be stored as 0.
    .refine((usd) => usd <= 0 || usdToNanos(usd) >= 1, 'must be at least 0.000000001 (one nano-dollar)'),
  thresholds: z.array(z.number({ error: 'must be a percentage of the limit' }).positive('must be more than 0').max(1000, 'must be at most 1000'))
    .min(1, 'must list at least one threshold').max(MAX_THRESHOLDS, `must list at most ${MAX_THRESHOLDS} thresholds`)
    .superRefine((list, ctx) => {
      if (new Set(list).size !== list.length) ctx.addIssue({ code: 'custom', message: 'lists a threshold more than once' });
    })
    .transform((list) => [...list].sort((a, b) => a - b))
    .default(DEFAULT_THRESHOLDS),
  targets: z.array(TargetInput).max(MAX_TARGETS, `must list at most ${MAX_TARGETS} targets`).default([]),
});
export type BudgetInput = z.infer<typeof BudgetInput>;

/** A budget as stored. */
export interface Budget {
  id: string;
  name: string;
  scope: BudgetScope;
  window: BudgetWindowKind;
  tz: string;
  limit_nanos: number;
  /** Percent of the limit, ascending. */
  thresholds: number[];
  targets: Target[];
  created_at: string;
  updated_at: string;
}

/** A budget as the API answers it: secrets left out. */
export const ApiBudget = z.object({
  id: z.string(),
  name: z.string(),
  scope: z.record(z.string(), z.array(z.string())).describe('the dimensions the budget covers; absent ones: all'),
  window: z.enum(WINDOWS),
  tz: z.string().describe('IANA zone of the calendar windows'),
  limit_usd: z.number(),
  thresholds: z.array(z.number()).describe('percent of the limit, ascending'),
  targets: z.array(z.object({ type: z.enum(['webhook', 'slack']), url: z.string(), secret_set: z.boolean().optional() })),
  created_at: z.string(),
  updated_at: z.string(),
});

/** A key scoped to projects sees and changes only budgets confined to its projects. */
export function visibleTo(budget: Pick<Budget, 'scope'>, principal: Principal): boolean {
  const projects = budget.scope.project;
  return principal.projects === null || (projects !== undefined && projects.every((p) => principal.projects!.includes(p)));
}
