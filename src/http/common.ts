import type { Env, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Api } from './api.js';
import { ApiError, errorBody, errorResponse } from './errors.js';
import { telemetry } from '../telemetry.js';

export interface Readiness {
  /** null when ready, else the reason the app cannot serve. */
  check(): Promise<string | null>;
  /** What /readyz adds to its answer either way (targets failing, an upstream down): never itself a 503. */
  details?(): Promise<Record<string, unknown> | null>;
}

/**
 * What both apps share: error mapping, request metrics, health, readiness and Prometheus metrics.
 * Registered first so the request counter sees every route.
 */
export function registerCommon<E extends Env>(api: Api<E>, name: 'collector' | 'reporting', readiness: Readiness): void {
  const { app } = api;
  app.onError(errorResponse);
  app.notFound((c) => c.json(errorBody(c, 'not_found', `no route for ${c.req.method} ${c.req.path}`), 404));
  app.use(async (c, next) => {
    const started = telemetry.requestStarted(name);
    await telemetry.withSpan(`${name} ${c.req.method}`, { 'http.request.method': c.req.method, 'url.path': c.req.path }, async (span) => {
      await next();
      span.updateName(`${c.req.method} ${c.req.routePath}`);
      span.setAttributes({ 'http.route': c.req.routePath, 'http.response.status_code': c.res.status });
    });
    telemetry.recordRequest(name, c.req.routePath, c.req.method, c.res.status, started);
  });
  const tag = 'operations';
  api.route({
    method: 'get', path: '/healthz', tag, summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive', schema: z.object({ status: z.literal('ok'), app: z.literal(name) }) } },
  }, (c) => c.json({ status: 'ok', app: name }));
  api.route({
    method: 'get', path: '/readyz', tag, summary: 'Readiness: the database is reachable and the app is not draining',
    responses: {
      200: {
        description: 'Ready',
        schema: z.object({
          status: z.literal('ready'), app: z.literal(name),
          details: z.record(z.string(), z.unknown()).optional()
            .describe('what needs attention without stopping the app: `forward` (docs/forwarding.md), `budget_targets_failing` (docs/budgets.md)'),
        }),
      },
      503: {
        description: 'Not ready, with the reason',
        schema: z.object({ status: z.literal('not_ready'), app: z.literal(name), reason: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
      },
    },
  }, async (c) => {
    const reason = await readiness.check();
    const details = await readiness.details?.();
    const answer = { app: name, ...(details ? { details } : {}) };
    return reason === null ? c.json({ status: 'ready', ...answer }) : c.json({ status: 'not_ready', reason, ...answer }, 503);
  });
  api.route({
    method: 'get', path: '/metrics', tag, summary: "Prometheus metrics: this app's own, and the process's on one port of the process",
    responses: { 200: { description: 'Prometheus text exposition format', text: 'text/plain' } },
  }, async (c) => {
    const { text, contentType } = await telemetry.scrape(name);
    return c.text(text, 200, { 'Content-Type': contentType });
  });
}

export const bodyTooLarge = (maxBytes: number) => new ApiError(413, 'body_too_large', `body exceeds ${maxBytes} bytes (MAX_BODY_BYTES)`);

/**
 * A request whose declared Content-Length is over MAX_BODY_BYTES gets 413 before anything reads
 * it. A chunked body, which declares none, is left to the route's BodyReader (body.ts), which stops
 * it at the limit as it comes and holds it in the decoding budget meanwhile.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.header('transfer-encoding') === undefined && Number(c.req.header('content-length') ?? 0) > maxBytes) throw bodyTooLarge(maxBytes);
    return next();
  };
}
