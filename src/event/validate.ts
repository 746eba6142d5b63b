import type { z } from 'zod';
import { excerpt } from '../excerpt.js';
import { fastValidate } from './fast-validate.js';
import { UsageEventInput, type ValidUsageEvent } from './schema.js';

export interface EventError {
  index: number;
  path: string;
  message: string;
}

/** The most problems an answer lists: `rejected` still counts every rejected event. */
export const MAX_LISTED_ERRORS = 100;
/** The most unknown field names one message lists. */
const LISTED_KEYS = 10;

/** `events[3].input_tokens`-style path, the form every error answer uses. Keys are the client's, so each is cut. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    return acc ? `${acc}.${excerpt(String(key))}` : excerpt(String(key));
  }, prefix);
}

export function issuesToErrors(index: number, issues: z.core.$ZodIssue[], prefix: string): EventError[] {
  return issues.map((issue) => ({ index, path: formatPath(issue.path, prefix) || '(event)', message: issueMessage(issue) }));
}

/** A failed parse's first problem as every 4xx says it: `path: message`, `whole` naming an empty path, `prefix` where the value parsed sits. */
export function describeIssue(issues: readonly z.core.$ZodIssue[], whole = 'body', prefix = ''): string {
  const issue = issues[0]!;
  return `${formatPath(issue.path, prefix) || whole}: ${issueMessage(issue)}`;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  return issue.code === 'unrecognized_keys' ? `unknown field(s): ${listKeys(issue.keys)}` : issue.message;
}

function listKeys(keys: readonly string[]): string {
  const more = keys.length > LISTED_KEYS ? ` and ${keys.length - LISTED_KEYS} more` : '';
  return keys.slice(0, LISTED_KEYS).map((key) => excerpt(key)).join(', ') + more;
}

export interface ValidationOutcome {
  valid: { index: number; event: ValidUsageEvent }[];
  errors: EventError[];
}

/** Validates each event on its own: one bad event never sinks its siblings. Lists at most MAX_LISTED_ERRORS problems. */
export function validateEvents(events: readonly unknown[], pathPrefix = 'events'): ValidationOutcome {
  const outcome: ValidationOutcome = { valid: [], errors: [] };
  events.forEach((raw, index) => {
    const event = validateEvent(raw, index, pathPrefix, outcome.errors);
    if (event) outcome.valid.push({ index, event });
  });
  return outcome;
}

/** One event of a batch at `index`: the valid event, or undefined with its problems added to `errors` (up to MAX_LISTED_ERRORS). */
export function validateEvent(raw: unknown, index: number, pathPrefix: string, errors: EventError[]): ValidUsageEvent | undefined {
  const fast = fastValidate(raw);
  if (fast) return fast;
  const result = UsageEventInput.safeParse(raw);
  if (result.success) return result.data;
  if (errors.length < MAX_LISTED_ERRORS) {
    errors.push(...issuesToErrors(index, result.error.issues, `${pathPrefix}[${index}]`).slice(0, MAX_LISTED_ERRORS - errors.length));
  }
  return undefined;
}
