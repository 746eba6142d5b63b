import type { Context } from 'hono';
import type { z } from 'zod';
import { formatPath } from '../src/event/validate.js';
import { badRequest } from '../src/http/errors.js';

/** A JSON request body checked against `schema`; an empty body is `{}`. A 400 names the first field at fault. */
export async function jsonBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let json: unknown;
  try {
    const text = await c.req.text();
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw badRequest(`body is not valid JSON: ${(error as Error).message}`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const message = issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
    throw badRequest(`${formatPath(issue.path) || 'body'}: ${message}`);
  }
  return result.data;
}
