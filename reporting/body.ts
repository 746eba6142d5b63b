import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { describeIssue } from '../src/event/validate.js';
import { excerpt } from '../src/excerpt.js';
import { requireJson, type BodyReader } from '../src/http/body.js';
import { badRequest } from '../src/http/errors.js';

/**
 * Writes and Grafana's queries take JSON bodies only (`requireJson`): a form a browser posts from
 * another site is refused for its type alone, whatever else it carries. A request without a body
 * (a pin, an unpin) needs no Content-Type.
 */
export function requireJsonBody(): MiddlewareHandler {
  return async function jsonOnly(c, next) {
    const reads = c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS';
    const hasBody = c.req.header('transfer-encoding') !== undefined || Number(c.req.header('content-length') ?? 0) > 0;
    const untypedAndEmpty = c.req.header('content-type') === undefined && !hasBody;
    if (!reads && !untypedAndEmpty) requireJson(c);
    return next();
  };
}

/**
 * A JSON request body, read by `bodies` (its limits, held in the decoding budget while it is parsed),
 * checked against `schema`; an empty body is `{}`. A 400 names the first field at fault.
 */
export async function jsonBody<T extends z.ZodType>(c: Context, bodies: BodyReader, schema: T): Promise<z.infer<T>> {
  const json = await bodies.read(c, (body) => {
    const text = body.toString('utf8');
    try {
      return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
    } catch (error) {
      throw badRequest(`body is not valid JSON: ${excerpt((error as Error).message, 200)}`);
    }
  });
  const result = schema.safeParse(json);
  if (!result.success) throw badRequest(describeIssue(result.error.issues));
  return result.data;
}
