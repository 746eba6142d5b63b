import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * JSON text with each BigInt (a sum past 2^53 − 1, see metrics.ts) written as its exact digits:
 * Node 20 has no JSON.rawJSON. An answer without one, the common case, is stringified once, as
 * c.json does; one with a BigInt is stringified again, each BigInt marked by a token nobody can
 * send (random per answer), and the marked strings are unquoted.
 */
export function exactJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError && error.message.includes('BigInt'))) throw error;
  }
  const mark = randomBytes(16).toString('hex');
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${mark}${v}` : v));
  return text.replace(new RegExp(`"${mark}(-?\\d+)"`, 'g'), '$1');
}

/** c.json for answers that may carry BigInt sums. */
export function exactJsonAnswer(c: Context, value: unknown, status?: ContentfulStatusCode): Response {
  return c.body(exactJson(value), status, { 'Content-Type': 'application/json' });
}
