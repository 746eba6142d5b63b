import type { Context } from 'hono';
import { excerpt } from '../excerpt.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';

/** The body of every error answer. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe('machine-readable, e.g. bad_request, unauthorized, queue_full'),
    message: z.string().describe('names the field or parameter at fault'),
  }),
});

/**
 * The one error type of the HTTP layer: a status, a machine code and a message that names the field
 * or parameter at fault. `retryAfter` (seconds) marks a transient refusal the client should retry.
 */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Client input as an error message quotes it: in double quotes, cut (see `excerpt`). */
export function quoteInput(input: unknown): string {
  return JSON.stringify(excerpt(String(input)));
}

export const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);

/** Maps any thrown error to a JSON answer; only a bug in the service becomes a 500. */
export function errorResponse(error: unknown, c: Context): Response {
  if (error instanceof ApiError) {
    if (error.retryAfter !== undefined) c.header('Retry-After', String(error.retryAfter));
    // Refused because the service is stopping: the connection goes too, even for a request that
    // arrived before the stop (later ones close theirs anyway), so a keep-alive client reconnects.
    if (error.code === 'draining') c.header('Connection', 'close');
    return c.json({ error: { code: error.code, message: error.message } } satisfies z.infer<typeof ErrorBody>, error.status);
  }
  console.error('unexpected error', error);
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}
