import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import { excerpt } from '../excerpt.js';
import { databaseUnavailable, unavailableCause } from '../store/unavailable.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';

/** The body of every error answer. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe('machine-readable, e.g. bad_request, unauthorized, queue_full'),
    message: z.string().describe('names the field or parameter at fault'),
  }),
  message: z.string().optional().describe('the same message, under /grafana only (what a Grafana panel shows)'),
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

/**
 * The error body for a request. Grafana shows a failed datasource call's top-level `message`
 * (`toDataQueryError` reads `data.message` first, and would print our `error` object as
 * "[object Object]"), so answers under /grafana repeat the message there.
 */
export function errorBody(c: Context, code: string, message: string): z.infer<typeof ErrorBody> {
  return c.req.path === '/grafana' || c.req.path.startsWith('/grafana/') ? { error: { code, message }, message } : { error: { code, message } };
}

/** Seconds a client is asked to wait before it tries again when the database cannot be used. */
const STORAGE_RETRY_AFTER_SECONDS = 1;

/** The answer while the database is down, unreachable or out of room: `what` did not happen; retry. */
export function storageUnavailable(what: string, error: unknown): ApiError {
  return new ApiError(503, 'storage_unavailable', `${what}: ${unavailableCause(error)}; retry later`, STORAGE_RETRY_AFTER_SECONDS);
}

/**
 * Maps any thrown error to a JSON answer; only a bug in the service becomes a 500. A database that
 * cannot be used now (databaseUnavailable) is a 503 to retry, as the collector answers for writes.
 */
export function errorResponse(error: unknown, c: Context): Response {
  if (error instanceof ApiError) {
    if (error.retryAfter !== undefined) c.header('Retry-After', String(error.retryAfter));
    // Refused because the service is stopping: the connection goes too, even for a request that
    // arrived before the stop (later ones close theirs anyway), so a keep-alive client reconnects.
    // A body that stopped coming, or came too slowly (408), leaves the rest of it unread on the connection.
    if (error.code === 'draining' || error.status === 408) c.header('Connection', 'close');
    return c.json(errorBody(c, error.code, error.message), error.status);
  }
  // Nobody is left to answer, and it is no fault of the service: counted as nginx's 499, not logged.
  if (clientGone(c)) return new Response(null, { status: 499 });
  // After the client's own going: a connection reset may be its socket's, not the database's.
  if (databaseUnavailable(error)) return errorResponse(storageUnavailable('not answered', error), c);
  console.error('unexpected error', error);
  return c.json(errorBody(c, 'internal', 'internal error'), 500);
}

/** Whether the client closed its connection before its request was whole (a body cut short). */
function clientGone(c: Context): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming !== undefined && !incoming.complete && incoming.destroyed;
}
