import type { Context } from 'hono';
import { z } from 'zod';
import { describeIssue } from '../event/validate.js';
import { excerpt } from '../excerpt.js';
import { badRequest } from './errors.js';

/** A route's query string (or path parameters): a strict object, so a misspelt parameter is an error, not an unfiltered answer. */
export type QuerySchema = z.ZodObject;

/** The query of a route that takes no parameters: any given is a 400, as a misspelt one is elsewhere. */
export const NoQuery = z.strictObject({});

/**
 * A parameter given at most once. The query reaches the schema with repeated names as arrays (see
 * `parseQuery`), so a second value is refused here rather than one of them silently winning.
 */
export function once<T extends z.ZodType>(schema: T) {
  return z.preprocess((value, ctx) => {
    if (!Array.isArray(value)) return value;
    ctx.addIssue({ code: 'custom', message: 'give it once' });
    return z.NEVER;
  }, schema);
}

/** A parameter that takes many values, repeated (`?model=a&model=b`) or comma-listed (`?model=a,b`). */
export function list<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (value) => [value].flat().flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== ''),
    z.array(item),
  );
}

/** The query as names → one trimmed value or several; empty values count as absent. */
export function rawQuery(c: Context): Record<string, string | string[]> {
  // fromEntries defines own properties, so a parameter named __proto__ is kept (and then rejected as unknown).
  return Object.fromEntries(
    Object.entries(c.req.queries()).flatMap(([name, values]) => {
      const kept = values.map((v) => v.trim()).filter((v) => v !== '');
      return kept.length === 0 ? [] : [[name, kept.length === 1 ? kept[0]! : kept]];
    }),
  );
}

/** Validates query or path parameters; a bad one is a 400 whose message starts with the parameter's name. */
export function parseInput<Q extends QuerySchema>(schema: Q, raw: Record<string, string | string[]>): z.output<Q> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const unknown = result.error.issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknown) {
    const known = Object.keys(schema.shape);
    throw badRequest(`${excerpt(String(unknown.keys[0]))}: unknown parameter; ${known.length > 0 ? `known: ${known.join(', ')}` : 'this route takes none'}`);
  }
  // A parameter is named by its name alone, even when its problem is in one of its repeated values.
  throw badRequest(describeIssue(result.error.issues.map((issue) => ({ ...issue, path: issue.path.slice(0, 1) }))));
}
