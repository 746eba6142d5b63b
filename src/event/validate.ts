import type { z } from 'zod';
import { fastValidate } from './fast-validate.js';
import { UsageEventInput, type ValidUsageEvent } from './schema.js';

export interface EventError {
  index: number;
  path: string;
  message: string;
}

/** `events[3].input_tokens`-style path, the form every error answer uses. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, prefix);
}

export function issuesToErrors(index: number, issues: z.core.$ZodIssue[], prefix: string): EventError[] {
  return issues.map((issue) => {
    const path = formatPath(issue.path, prefix);
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
    return { index, path: path || prefix || '(event)', message };
  });
}

export interface ValidationOutcome {
  valid: { index: number; event: ValidUsageEvent }[];
  errors: EventError[];
}

/** Validates each event on its own: one bad event never sinks its siblings. */
export function validateEvents(events: readonly unknown[], pathPrefix = 'events'): ValidationOutcome {
  const outcome: ValidationOutcome = { valid: [], errors: [] };
  events.forEach((raw, index) => {
    const fast = fastValidate(raw);
    if (fast) return void outcome.valid.push({ index, event: fast });
    const result = UsageEventInput.safeParse(raw);
    if (result.success) outcome.valid.push({ index, event: result.data });
    else outcome.errors.push(...issuesToErrors(index, result.error.issues, `${pathPrefix}[${index}]`));
  });
  return outcome;
}
